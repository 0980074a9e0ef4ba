// Command charts draws the tables of bench/results/*.md as PNG bar charts
// beside RESULTS.md, so that a reader sees at a glance what the numbers say
// before reading them:
//
//   - http.md: requests per second, p99 latency and requests per proxy
//     CPU-second (the steadiest figure on a shared machine), per target and
//     body size;
//   - filters.md: what each Wasm filter costs per request (CPU, wall time
//     when measured, bytes and allocations), beside the no-filter baseline;
//   - brokers.md: the adapters' time per message relative to the raw
//     clients', and a publish through the meshd gateway against a direct one;
//   - eventlog.md: append rates by writer count and read rates of the file
//     log beside PostgreSQL and NATS JetStream;
//   - grpc-client.md: time, bytes and allocations per call of each measured
//     path beside its baseline.
//
// The charts of results/NAME.md are written as NAME-*.png; bench/assemble.sh
// runs this command and links every NAME-*.png in NAME's section of
// RESULTS.md. A results file that is missing is skipped; one whose tables can
// no longer be read is an error, so a change of format is noticed.
//
//	go run ./bench/charts [-results bench/results] [-out bench]
package main
