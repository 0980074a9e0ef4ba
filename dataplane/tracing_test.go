package dataplane

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// otlpReceiver is a real OTLP/gRPC trace receiver, in-process.
type otlpReceiver struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
	addr  string
}

func (o *otlpReceiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (o *otlpReceiver) snapshot() []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*tracepb.Span(nil), o.spans...)
}

func startOTLP(t *testing.T) *otlpReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &otlpReceiver{addr: ln.Addr().String()}
	gs := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(gs, o)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return o
}

// TestTraceAcrossTwoMeshd sends one request with a traceparent through
// two meshd hops to an app, and checks the exported spans form one trace
// with the right parent links and no orphan.
func TestTraceAcrossTwoMeshd(t *testing.T) {
	otlp := startOTLP(t)
	app := startBackend(t, "app")
	tracing := fmt.Sprintf("tracing: {otlp_endpoint: %s, service_name: %%s}\n", otlp.addr)
	cfg := func(name, target string) string {
		return fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
`+tracing+`listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{name: %s-route, match: {prefix: /}, cluster: next}]
clusters:
  - {name: next, endpoints: [{address: %s}]}
`, name, name, target)
	}
	_, urlB := startMeshd(t, cfg("b", app.addr))
	_, urlA := startMeshd(t, cfg("a", strings.TrimPrefix(urlB, "http://")))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const clientSpan = "00f067aa0ba902b7"
	if code, _, _ := get(t, urlA+"/orders", "traceparent", "00-"+traceID+"-"+clientSpan+"-01"); code != 200 {
		t.Fatalf("request: %d", code)
	}
	waitFor(t, "four spans exported", func() bool { return len(otlp.snapshot()) >= 4 })
	spans := otlp.snapshot()
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		if got := hex.EncodeToString(s.GetTraceId()); got != traceID {
			t.Errorf("span %q has trace id %s, want %s", s.GetName(), got, traceID)
		}
		byID[hex.EncodeToString(s.GetSpanId())] = s
	}
	find := func(name string) *tracepb.Span {
		for _, s := range spans {
			if s.GetName() == name {
				return s
			}
		}
		t.Fatalf("no span %q among %d", name, len(spans))
		return nil
	}
	aServer := find("GET a-route")
	bServer := find("GET b-route")
	parent := func(s *tracepb.Span) string { return hex.EncodeToString(s.GetParentSpanId()) }
	if parent(aServer) != clientSpan {
		t.Errorf("meshd A's span is not a child of the caller's span")
	}
	// A's upstream try is a child of A's server span, and B's server span
	// a child of A's try.
	var aTry, bTry *tracepb.Span
	for _, s := range spans {
		if s.GetName() == "upstream next" {
			if parent(s) == hex.EncodeToString(aServer.GetSpanId()) {
				aTry = s
			}
			if parent(s) == hex.EncodeToString(bServer.GetSpanId()) {
				bTry = s
			}
		}
	}
	if aTry == nil || bTry == nil {
		t.Fatalf("upstream try spans not linked to their server spans: %v", spans)
	}
	if parent(bServer) != hex.EncodeToString(aTry.GetSpanId()) {
		t.Errorf("meshd B's span is not a child of meshd A's upstream try")
	}
	for _, s := range spans {
		if p := parent(s); p != clientSpan && byID[p] == nil {
			t.Errorf("orphan span %q (parent %s not exported)", s.GetName(), p)
		}
	}
}
