// Package instrument wraps any eventlog.Store (file log, PostgreSQL,
// memstore) so that its work is visible: an OpenTelemetry span for every
// append and every read, a child of the span in the caller's context, and
// the append latency histogram of eventlog/metrics. Wrapping, rather than
// instrumenting each backend, gives every backend the same spans and the
// same metric, and keeps the backends free of telemetry code.
package instrument
