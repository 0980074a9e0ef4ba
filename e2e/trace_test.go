package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/middleware"
	_ "github.com/wasmesh/wasmesh/brokers/rabbitmq"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// receiver is a real OTLP/gRPC trace receiver, in-process.
type receiver struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *receiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (r *receiver) all() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func needRabbit(t *testing.T) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:5672", time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("RabbitMQ is not reachable at 127.0.0.1:5672 (.ci/run starts it): %v", err)
	}
	t.Skip("RabbitMQ is not reachable at 127.0.0.1:5672")
}

// gsvc is service 2: a gRPC server that publishes what it is asked to
// RabbitMQ through middleware.TracePublisher, so the publish is a producer
// span and the message carries the trace.
type gsvc struct {
	testgrpc.TestServiceServer
	pub   brokers.Publisher
	topic string
}

func (g *gsvc) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	msg := brokers.NewMessage([]byte(`{"order":42}`))
	if err := g.pub.Publish(ctx, g.topic, msg); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{}, nil
}

// TestFourHopTrace: a request to service 1 (HTTP) calls service 2 over
// gRPC, which publishes to RabbitMQ; its consumer calls service 3 over
// HTTP. Every call goes through meshd. All spans — meshd's, the gRPC
// client and server's, the producer's, the consumer's, the apps' — form
// one trace with the right parent links and no orphan.
func TestFourHopTrace(t *testing.T) {
	needRabbit(t)
	rec := &receiver{}
	rl := listen(t)
	gs := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(gs, rec)
	go gs.Serve(rl)
	t.Cleanup(gs.Stop)

	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(rl.Addr().String()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(100*time.Millisecond)))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("e2e")
	prop := propagation.TraceContext{}

	// meshd: one listener in front of all three services.
	l1, l2, l3 := listen(t), listen(t), listen(t)
	topic := "wm-e2e-" + uuid.NewString()[:8]
	src, err := conf.LoadBytes([]string{"e2e.yaml"}, [][]byte{[]byte(fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
tracing: {otlp_endpoint: %s, service_name: meshd}
brokers:
  - {name: rabbit, type: rabbitmq, url: "amqp://guest:guest@127.0.0.1:5672/", options: {queues: [{name: %s}]}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {name: svc1, match: {prefix: /svc1}, cluster: svc1}
      - {name: svc2, match: {prefix: /grpc.testing.TestService/}, cluster: svc2, timeout: 10s}
      - {name: svc3, match: {prefix: /svc3}, cluster: svc3}
clusters:
  - {name: svc1, endpoints: [{address: %s}]}
  - {name: svc2, protocol: grpc, endpoints: [{address: %s}]}
  - {name: svc3, endpoints: [{address: %s}]}
`, rl.Addr(), topic, l1.Addr(), l2.Addr(), l3.Addr()))})
	if err != nil {
		t.Fatal(err)
	}
	mesh := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := mesh.Apply(src.Config, "e2e"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mesh.Shutdown(context.Background()) })
	meshAddr := mesh.Addr("ingress")
	rabbit, _ := mesh.Broker("rabbit")

	// Service 3: HTTP.
	done := make(chan struct{}, 1)
	go http.Serve(l3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := tracer.Start(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)), "svc3 handle")
		span.End()
		done <- struct{}{}
	}))
	// Service 2: gRPC, publishes.
	g2 := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()))
	testgrpc.RegisterTestServiceServer(g2, &gsvc{TestServiceServer: interop.NewTestServer(), pub: middleware.TracePublisher(rabbit, tracer), topic: topic})
	go g2.Serve(l2)
	t.Cleanup(g2.Stop)
	// The consumer of the queue calls service 3 through meshd.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := brokers.Chain(middleware.Trace(tracer))(func(ctx context.Context, d *brokers.Delivery) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+meshAddr+"/svc3", nil)
		prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	go brokers.Serve(ctx, rabbit, topic, brokers.SubscribeOptions{}, h, brokers.ServeOptions{})
	// Service 1: HTTP, calls service 2 over gRPC through meshd.
	cc, err := grpc.NewClient(meshAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c2 := testgrpc.NewTestServiceClient(cc)
	go http.Serve(l1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)), "svc1 handle")
		defer span.End()
		if _, err := c2.UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
			http.Error(w, err.Error(), 502)
		}
	}))

	// The caller: a root span, one request.
	rootCtx, root := tracer.Start(context.Background(), "caller")
	req, _ := http.NewRequestWithContext(rootCtx, "GET", "http://"+meshAddr+"/svc1", nil)
	prop.Inject(rootCtx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("svc1: %d %s", resp.StatusCode, body)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the message never reached service 3")
	}
	root.End()
	tp.ForceFlush(context.Background())
	traceID := root.SpanContext().TraceID()
	want := []string{"caller", "GET svc1", "upstream svc1", "svc1 handle", "grpc.testing.TestService/UnaryCall",
		"POST svc2", "upstream svc2", "publish " + topic, "process " + topic, "GET svc3", "upstream svc3", "svc3 handle"}
	deadline := time.Now().Add(10 * time.Second)
	var spans []*tracepb.Span
	for {
		spans = rec.all()
		if countNames(spans, want) == len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.GetSpanId())] = s
	}
	names := map[string]int{}
	for _, s := range spans {
		names[s.GetName()]++
		if got := hex.EncodeToString(s.GetTraceId()); got != traceID.String() {
			t.Errorf("span %q is in trace %s, not %s", s.GetName(), got, traceID)
		}
		if p := hex.EncodeToString(s.GetParentSpanId()); len(s.GetParentSpanId()) > 0 && byID[p] == nil {
			t.Errorf("orphan span %q: parent %s was not exported", s.GetName(), p)
		}
	}
	for _, w := range want {
		if names[w] == 0 {
			b, _ := json.Marshal(names)
			t.Errorf("no %q span; spans seen: %s", w, b)
		}
	}
	// The hops hang off each other in order: caller → meshd → svc1 →
	// gRPC client → meshd → gRPC server → producer → (message) consumer →
	// meshd → svc3.
	parent := func(name string) *tracepb.Span {
		for _, s := range spans {
			if s.GetName() == name {
				return byID[hex.EncodeToString(s.GetParentSpanId())]
			}
		}
		return nil
	}
	parentOf := func(name string) string {
		if p := parent(name); p != nil {
			return p.GetName()
		}
		return ""
	}
	links := [][2]string{
		{"GET svc1", "caller"}, {"upstream svc1", "GET svc1"}, {"svc1 handle", "upstream svc1"},
		{"POST svc2", "grpc.testing.TestService/UnaryCall"},
		{"publish " + topic, "grpc.testing.TestService/UnaryCall"}, {"process " + topic, "publish " + topic},
		{"GET svc3", "process " + topic},
		{"upstream svc3", "GET svc3"}, {"svc3 handle", "upstream svc3"},
	}
	for _, l := range links {
		if got := parentOf(l[0]); got != l[1] {
			t.Errorf("span %q has parent %q, want %q", l[0], got, l[1])
		}
	}
	// The gRPC client and server spans share a name: the producer span's
	// parent must be the server's, where the handler that publishes runs.
	if p := parent("publish " + topic); p == nil || p.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("the producer span's parent is %v, want the gRPC server span", p)
	}
	for name, kind := range map[string]tracepb.Span_SpanKind{"publish " + topic: tracepb.Span_SPAN_KIND_PRODUCER, "process " + topic: tracepb.Span_SPAN_KIND_CONSUMER} {
		for _, s := range spans {
			if s.GetName() == name && s.GetKind() != kind {
				t.Errorf("span %q is %s, want %s", name, s.GetKind(), kind)
			}
		}
	}
}

func countNames(spans []*tracepb.Span, want []string) int {
	seen := map[string]bool{}
	for _, s := range spans {
		seen[s.GetName()] = true
	}
	n := 0
	for _, w := range want {
		if seen[w] {
			n++
		}
	}
	return n
}
