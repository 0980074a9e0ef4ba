// Package telemetry holds the few conventions every Wasmesh part shares
// when it writes metrics, so that one dashboard reads HTTP, gRPC,
// messaging and the event log the same way: one set of latency buckets,
// one outcome label with two values, and the OpenTelemetry semantic
// convention names translated to Prometheus. docs/metrics.md explains the
// scheme; docs/metrics_test.go holds every part to it.
package telemetry
