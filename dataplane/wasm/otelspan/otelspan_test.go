package otelspan

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestFuncExportsChildSpan(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	e := New(mem, nil)
	f := e.Func()
	_, err := f(context.Background(), []byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",
		"parent_span_id":"1111111111111111","sampled":true,"name":"GET /x","kind":"server",
		"start_unix_nano":1000,"end_unix_nano":2000,"error":true,"attributes":{"http.response.status_code":"503","url.path":"/x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := mem.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent.SpanID().String() != "1111111111111111" ||
		!s.Parent.IsRemote() || s.Status.Code != codes.Error || s.EndTime.Sub(s.StartTime) != 1000 {
		t.Fatalf("span = %+v", s)
	}
	for _, a := range s.Attributes {
		if a.Key == "http.response.status_code" && a.Value.AsInt64() != 503 {
			t.Fatalf("status attribute %v", a.Value)
		}
	}
}

func TestFuncRejectsBadSpans(t *testing.T) {
	e := New(tracetest.NewInMemoryExporter(), nil)
	defer e.Close(context.Background())
	for _, in := range []string{`nope`, `{"trace_id":"xyz","span_id":"00f067aa0ba902b7"}`,
		`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00"}`,
		`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"zz"}`} {
		if _, err := e.Func()(context.Background(), []byte(in)); err == nil {
			t.Errorf("accepted %s", in)
		}
	}
}
