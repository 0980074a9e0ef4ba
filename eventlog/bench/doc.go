// Package bench holds the event log's side-by-side benchmarks, in one
// package so one `go test -bench` run measures every backend on the same
// machine at the same time: durable appends per second with 1 and 64
// concurrent writers, and reads per second, for the file log, the
// PostgreSQL backend and, as the baseline, NATS JetStream publishing with
// acknowledgements to a file-backed stream.
//
//	go test -run '^$' -bench . -benchtime 3s ./eventlog/bench
package bench
