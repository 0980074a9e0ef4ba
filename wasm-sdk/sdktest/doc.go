// Package sdktest runs a filter written with the SDK natively, without
// Wasm, so its logic is unit-tested with plain `go test`. It is an in-memory
// Proxy-Wasm host: it creates the root context, configures it, and drives
// streams; shared data (with compare-and-swap), queues, metrics, logs, ticks
// and http calls are recorded for the test to inspect and answer.
//
// A test package holds one active Host at a time (the SDK is a singleton, as
// inside a VM), so tests using sdktest must not call t.Parallel.
package sdktest
