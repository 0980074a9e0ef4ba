package filtertests

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
	"github.com/wasmesh/wasmesh/dataplane/wasm/otelspan"
)

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

// hop is one meshd: its own runtime, tracing plugin and span exporter.
type hop struct {
	p   *wasm.Plugin
	exp *otelspan.Exporter
	mem *tracetest.InMemoryExporter
}

func newHop(t *testing.T, name string) *hop {
	mem := tracetest.NewInMemoryExporter()
	exp := otelspan.New(mem, nil)
	r := newRuntime(t, wasm.RuntimeConfig{ForeignFunctions: map[string]wasm.ForeignFunc{otelspan.Name: exp.Func()}})
	p := newPlugin(t, r, wasm.PluginConfig{Name: name, Wasm: filterWasm(t, "tracing"), PoolSize: 1}, nil)
	return &hop{p: p, exp: exp, mem: mem}
}

// pass sends a request through the hop (request and response) and returns
// the response headers.
func (h *hop) pass(t *testing.T, req *wasm.Headers) *wasm.Headers {
	s := h.p.NewStream(wasm.StreamInfo{RouteName: "r"})
	if a := s.OnRequestHeaders(req, true); a != wasm.Continue {
		t.Fatalf("request: %v", a)
	}
	resp := &wasm.Headers{{":status", "200"}}
	s.OnResponseHeaders(resp, true)
	s.Done()
	return resp
}

func (h *hop) spans(t *testing.T) tracetest.SpanStubs {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.exp.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return h.mem.GetSpans()
}

func TestTracingTwoHops(t *testing.T) {
	h1, h2 := newHop(t, "trace-1"), newHop(t, "trace-2")
	req := request("/orders?id=1")
	resp1 := h1.pass(t, req)
	tp1, _ := req.Get("traceparent")
	m1 := traceparentRE.FindStringSubmatch(tp1)
	if m1 == nil {
		t.Fatalf("hop 1 traceparent %q", tp1)
	}
	rid, _ := req.Get("x-request-id")
	if rid == "" {
		t.Fatal("no x-request-id made")
	}
	if v, _ := resp1.Get("x-request-id"); v != rid {
		t.Fatalf("x-request-id echoed %q, want %q", v, rid)
	}
	if v, _ := resp1.Get("x-correlation-id"); v != rid {
		t.Fatalf("x-correlation-id echoed %q", v)
	}
	if v, _ := req.Get("x-b3-traceid"); v != m1[1] {
		t.Fatalf("x-b3-traceid = %q", v)
	}
	// The request, as forwarded by hop 1, enters hop 2.
	h2.pass(t, req)
	tp2, _ := req.Get("traceparent")
	m2 := traceparentRE.FindStringSubmatch(tp2)
	if m2 == nil || m2[1] != m1[1] || m2[2] == m1[2] {
		t.Fatalf("hop 2 traceparent %q after %q: want the same trace, a new span", tp2, tp1)
	}
	if v, _ := req.Get("x-request-id"); v != rid {
		t.Fatal("hop 2 replaced x-request-id")
	}
	s1, s2 := h1.spans(t), h2.spans(t)
	if len(s1) != 1 || len(s2) != 1 {
		t.Fatalf("spans exported: %d and %d", len(s1), len(s2))
	}
	a, b := s1[0], s2[0]
	if a.SpanContext.TraceID().String() != m1[1] || a.SpanContext.SpanID().String() != m1[2] || a.Parent.IsValid() {
		t.Fatalf("hop 1 span %v parent %v", a.SpanContext, a.Parent)
	}
	if b.SpanContext.TraceID() != a.SpanContext.TraceID() || b.Parent.SpanID() != a.SpanContext.SpanID() || !b.Parent.IsRemote() {
		t.Fatalf("hop 2 span is not a child of hop 1: %v parent %v", b.SpanContext, b.Parent)
	}
	if b.SpanKind != trace.SpanKindServer || b.Name != "GET r" {
		t.Fatalf("span kind %v name %q", b.SpanKind, b.Name)
	}
}

func TestTracingAcceptsIncoming(t *testing.T) {
	h := newHop(t, "trace-in")
	tests := []struct {
		name      string
		hdrs      []string
		wantTrace string
		parent    string
	}{
		{"w3c", []string{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate", "congo=t61rcWkgMzE"},
			"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
		{"b3 single", []string{"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}, "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"},
		{"b3 multi 64-bit", []string{"x-b3-traceid", "a3ce929d0e0e4736", "x-b3-spanid", "00f067aa0ba902b7", "x-b3-sampled", "1"},
			"0000000000000000a3ce929d0e0e4736", "00f067aa0ba902b7"},
		{"invalid traceparent is replaced", []string{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("/", tt.hdrs...)
			h.pass(t, req)
			tp, _ := req.Get("traceparent")
			m := traceparentRE.FindStringSubmatch(tp)
			if m == nil {
				t.Fatalf("traceparent %q", tp)
			}
			if tt.wantTrace != "" && (m[1] != tt.wantTrace || m[2] == tt.parent) {
				t.Fatalf("traceparent %q: want trace %s and a new span", tp, tt.wantTrace)
			}
			if tt.wantTrace == "" && strings.HasPrefix(m[1], "0000000000000000") {
				t.Fatalf("traceparent %q kept an invalid id", tp)
			}
			if tt.parent != "" {
				if v, _ := req.Get("x-b3-parentspanid"); v != tt.parent {
					t.Fatalf("x-b3-parentspanid = %q", v)
				}
			}
			if tt.name == "w3c" {
				if v, _ := req.Get("tracestate"); v != "congo=t61rcWkgMzE" {
					t.Fatalf("tracestate = %q", v)
				}
			}
		})
	}
	// A caller's own request and correlation ids are kept and echoed.
	req := request("/", "x-request-id", "rid-1", "x-correlation-id", "corr-1")
	resp := h.pass(t, req)
	if v, _ := resp.Get("x-request-id"); v != "rid-1" {
		t.Fatalf("x-request-id %q", v)
	}
	if v, _ := resp.Get("x-correlation-id"); v != "corr-1" {
		t.Fatalf("x-correlation-id %q", v)
	}
}
