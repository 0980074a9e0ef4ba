// Package filelog is the embedded, server-less event store and Wasmesh's
// default: segmented append-only files of length-prefixed, CRC32C-checked
// records, written by one goroutine that commits concurrent appends in groups
// sharing a single fsync, with an in-memory stream index persisted beside the
// segments and rebuilt from them on open when it is behind.
//
// Open a log with Open(dir, Options{}); the *Log implements eventlog.Store.
// See README.md for the durability settings and what each one promises.
package filelog
