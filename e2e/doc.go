// Package e2e holds end-to-end tests that cross every part of Wasmesh at
// once — meshd, the gRPC client instrumentation, a real broker and the
// OpenTelemetry export — where no single part's tests can.
package e2e
