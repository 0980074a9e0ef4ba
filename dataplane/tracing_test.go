package dataplane

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestTraceThroughGatewayPublish publishes through a publish route with a
// traceparent and follows the message to the app a subscription delivers
// it to: the route's server span, the producer span of the publish, the
// consumer span of the delivery and the delivery request's spans form
// one trace, each hop the child of the one before.
func TestTraceThroughGatewayPublish(t *testing.T) {
	otlp := startOTLP(t)
	a := startApp(t, func(int) int { return 200 })
	_, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
tracing: {otlp_endpoint: %s, service_name: meshd}
brokers:
  - {name: mem, type: memory}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {name: pub, match: {prefix: /v1/publish/}, publish: {}}
      - {name: events, match: {prefix: /events/}, cluster: app}
clusters:
  - {name: app, endpoints: [{address: %s}]}
subscriptions:
  - {name: to-app, broker: mem, topic: orders, deliver: {listener: ingress, path: /events/orders}}
`, otlp.addr, a.addr))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const clientSpan = "00f067aa0ba902b7"
	code, body := post(t, url+"/v1/publish/mem/orders", `{"id":42}`, "Content-Type", "application/json",
		"ce-id", "evt-1", "ce-source", "/shop", "ce-type", "order.created", "ce-specversion", "1.0",
		"traceparent", "00-"+traceID+"-"+clientSpan+"-01")
	if code != 204 {
		t.Fatalf("publish: %d %s", code, body)
	}
	waitFor(t, "the delivery", func() bool { return a.deliveries() == 1 })
	names := []string{"POST pub", "publish orders", "process orders", "POST events", "upstream app"}
	find := func(name string) *tracepb.Span {
		for _, s := range otlp.snapshot() {
			if s.GetName() == name {
				return s
			}
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for missing := names; len(missing) > 0; {
		missing = nil
		for _, n := range names {
			if find(n) == nil {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 && time.Now().After(deadline) {
			var seen []string
			for _, s := range otlp.snapshot() {
				seen = append(seen, s.GetName())
			}
			t.Fatalf("no spans %q; exported: %q", missing, seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	id := func(s *tracepb.Span) string { return hex.EncodeToString(s.GetSpanId()) }
	parent := func(s *tracepb.Span) string { return hex.EncodeToString(s.GetParentSpanId()) }
	want := clientSpan
	for _, n := range names {
		s := find(n)
		if got := hex.EncodeToString(s.GetTraceId()); got != traceID {
			t.Errorf("span %q in trace %s, want %s", n, got, traceID)
		}
		if parent(s) != want {
			t.Errorf("span %q has parent %s, want %s (the hop before)", n, parent(s), want)
		}
		want = id(s)
	}
	producer := find("publish orders")
	if producer.GetKind() != tracepb.Span_SPAN_KIND_PRODUCER {
		t.Errorf("publish span kind %s", producer.GetKind())
	}
	attrs := map[string]string{}
	for _, kv := range producer.GetAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if attrs["messaging.system"] != "memory" || attrs["messaging.destination.name"] != "orders" ||
		attrs["messaging.operation.name"] != "publish" || attrs["messaging.message.id"] != "evt-1" {
		t.Errorf("publish span attributes %v", attrs)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if tp := a.got[0].Get("Traceparent"); !strings.Contains(tp, traceID) {
		t.Errorf("the app got traceparent %q, not in trace %s", tp, traceID)
	}
}
