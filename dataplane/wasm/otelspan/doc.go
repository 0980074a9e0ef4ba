// Package otelspan is the host side of the tracing filter: the foreign
// function wasmesh.export_span turns the span a guest hands over (JSON) into
// an OpenTelemetry span, a child of the incoming trace, and exports it in
// batches with any SpanExporter (OTLP in meshd).
//
//	exp := otelspan.New(otlpExporter, resource)
//	wasm.RuntimeConfig{ForeignFunctions: map[string]wasm.ForeignFunc{otelspan.Name: exp.Func()}}
//	defer exp.Close(ctx)
package otelspan
