// Package tracing is a Proxy-Wasm filter that propagates W3C trace context
// and B3, makes x-request-id and a correlation id when missing (echoed on
// the response), and hands each span to the host, which exports it with
// OpenTelemetry. See ../README.md.
//
// filters/tracing builds it alone; filters/bundle builds it with the other
// built-in filters into one module.
package tracing
