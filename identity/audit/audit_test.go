package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/memory"
	"github.com/wasmesh/wasmesh/identity/authz"
)

func receive(t *testing.T, b *memory.Broker, topic string, n int) []*brokers.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ch, err := b.Subscribe(ctx, topic, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*brokers.Message
	for len(out) < n {
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatalf("subscription ended after %d of %d messages", len(out), n)
			}
			d.Ack(ctx)
			out = append(out, d.Message)
		case <-ctx.Done():
			t.Fatalf("got %d of %d messages", len(out), n)
		}
	}
	return out
}

func TestDenialsAreLoggedPublishedAndCounted(t *testing.T) {
	b := memory.New(memory.Options{})
	defer b.Close(context.Background())
	topic := memory.NewTopicName("audit")
	var logs bytes.Buffer
	a, err := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Publisher: b, Topic: topic, Source: "meshd/test"})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := authz.New([]authz.Policy{{Name: "orders-read", Action: "ALLOW", Routes: []string{"orders"}, Rules: []authz.Rule{{
		From: &authz.Source{Principals: []string{"spiffe://example.org/ns/shop/sa/web"}}, To: &authz.Operation{Methods: []string{"GET"}},
	}}}, {Name: "no-legacy", Action: "DENY", Rules: []authz.Rule{{Name: "legacy-path", To: &authz.Operation{Paths: []string{"/legacy/*"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := []authz.Request{
		{Route: "orders", Method: "DELETE", Path: "/orders", Principal: "spiffe://example.org/ns/shop/sa/web", SourceIP: netip.MustParseAddr("10.0.0.7"), Claims: map[string]any{"sub": "svc-web", "iss": "https://issuer"}},
		{Route: "orders", Method: "GET", Path: "/legacy/x", Principal: "spiffe://example.org/ns/shop/sa/web"},
	}
	for i := range reqs {
		d := eng.Evaluate(&reqs[i])
		if d.Allowed {
			t.Fatalf("request %d allowed", i)
		}
		ev := FromAuthz(d, &reqs[i])
		ev.RequestID, ev.TraceID = "req-"+string(rune('a'+i)), "4bf92f3577b34da6a3ce929d0e0e4736"
		a.Record(t.Context(), ev)
	}
	a.Record(t.Context(), Event{Kind: KindAuthentication, Reason: ReasonInvalidToken, Detail: "token expired", Filter: "jwt-auth", Status: 401, Method: "GET", Path: "/orders", RequestID: "req-c"})
	a.Record(t.Context(), Event{Kind: KindRateLimit, Reason: ReasonRateLimited, Filter: "rate-limit", Status: 429, Principal: "spiffe://example.org/ns/shop/sa/web", RequestID: "req-d"})

	msgs := receive(t, b, topic, 4)
	byReq := map[string]Event{}
	for _, m := range msgs {
		if m.Type != EventType || m.Source != "meshd/test" || m.DataContentType != "application/json" {
			t.Errorf("attributes: %+v", m)
		}
		var ev Event
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		if m.Header(brokers.HeaderCorrelationID) != ev.RequestID {
			t.Errorf("correlation id %q for %q", m.Header(brokers.HeaderCorrelationID), ev.RequestID)
		}
		byReq[ev.RequestID] = ev
	}
	if ev := byReq["req-a"]; ev.Kind != KindAuthorization || ev.Reason != ReasonDefaultDeny || ev.Policy != "orders-read" ||
		ev.Principal != "spiffe://example.org/ns/shop/sa/web" || ev.Subject != "svc-web" || ev.SourceIP != "10.0.0.7" ||
		ev.Method != "DELETE" || ev.Status != 403 || ev.TraceID == "" || ev.Time.IsZero() {
		t.Errorf("default-deny event: %+v", ev)
	}
	if ev := byReq["req-b"]; ev.Reason != ReasonPolicyDenied || ev.Policy != "no-legacy" || ev.Rule != "legacy-path" {
		t.Errorf("deny event: %+v", ev)
	}
	if ev := byReq["req-c"]; ev.Kind != KindAuthentication || ev.Filter != "jwt-auth" || ev.Detail != "token expired" {
		t.Errorf("authn event: %+v", ev)
	}
	if err := a.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	m := a.Metrics()
	if got := testutil.ToFloat64(m.deniedVec.WithLabelValues(KindAuthorization, ReasonDefaultDeny)); got != 1 {
		t.Errorf("default_deny counter %v", got)
	}
	if got := testutil.ToFloat64(m.deniedVec.WithLabelValues(KindRateLimit, ReasonRateLimited)); got != 1 {
		t.Errorf("rate_limited counter %v", got)
	}
	if got := testutil.ToFloat64(m.published); got != 4 {
		t.Errorf("published %v", got)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines:\n%s", len(lines), logs.String())
	}
	var rec map[string]any
	json.Unmarshal([]byte(lines[1]), &rec)
	if rec["audit"] != "denied" || rec["policy"] != "no-legacy" || rec["rule"] != "legacy-path" || rec["request_id"] != "req-b" {
		t.Errorf("log record %v", rec)
	}
	if n := testutil.CollectAndCount(m); n != 7 {
		t.Errorf("collector exports %d series, want 7 (4 kind/reason pairs and 3 counters)", n)
	}
}

// gate holds every Publish until opened: a broker that has stopped
// answering.
type gate struct {
	brokers.Publisher
	open chan struct{}
}

func (g *gate) Publish(ctx context.Context, topic string, msgs ...*brokers.Message) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Publisher.Publish(ctx, topic, msgs...)
}

func TestSlowBrokerNeverBlocksRecord(t *testing.T) {
	b := memory.New(memory.Options{})
	defer b.Close(context.Background())
	g := &gate{Publisher: b, open: make(chan struct{})}
	topic := memory.NewTopicName("audit")
	a, _ := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Publisher: g, Topic: topic, QueueSize: 4, BatchSize: 2})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a.Record(t.Context(), Event{Kind: KindRateLimit, Reason: ReasonRateLimited, RequestID: string(rune(i))})
		})
	}
	wg.Wait() // every Record returned while the broker held every publish
	m := a.Metrics()
	dropped := testutil.ToFloat64(m.dropped)
	if dropped < n-4-2 {
		t.Errorf("dropped %v of %d with a queue of 4 and a batch of 2", dropped, n)
	}
	close(g.open)
	if err := a.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	published := testutil.ToFloat64(m.published)
	if published+dropped != n || published == 0 {
		t.Errorf("published %v + dropped %v != %d", published, dropped, n)
	}
	if got := testutil.ToFloat64(m.deniedVec.WithLabelValues(KindRateLimit, ReasonRateLimited)); got != n {
		t.Errorf("denials counted %v", got)
	}
	if got := len(receive(t, b, topic, int(published))); got != int(published) {
		t.Errorf("broker holds %d", got)
	}
	a.Record(t.Context(), Event{Kind: KindRateLimit, Reason: ReasonRateLimited})
	if testutil.ToFloat64(m.dropped) != dropped+1 {
		t.Error("record after close not counted as dropped")
	}
}

func TestPublishFailureIsCountedAndLogged(t *testing.T) {
	b := memory.New(memory.Options{})
	defer b.Close(context.Background())
	b.FailPublishes(1, errors.New("broker on fire"))
	topic := memory.NewTopicName("audit")
	var logs syncBuffer
	a, _ := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Publisher: b, Topic: topic})
	a.Record(t.Context(), Event{Kind: KindAuthentication, Reason: ReasonMissingToken, RequestID: "lost"})
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(a.Metrics().publishErrors) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	a.Record(t.Context(), Event{Kind: KindAuthentication, Reason: ReasonMissingToken, RequestID: "kept"})
	a.Close(t.Context())
	if got := testutil.ToFloat64(a.Metrics().publishErrors); got != 1 {
		t.Errorf("publish errors %v", got)
	}
	msgs := receive(t, b, topic, 1)
	var ev Event
	json.Unmarshal(msgs[0].Payload, &ev)
	if ev.RequestID != "kept" {
		t.Errorf("published %+v", ev)
	}
	if !strings.Contains(logs.String(), "broker on fire") || !strings.Contains(logs.String(), "request_id=lost") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func TestConfigAndCardinality(t *testing.T) {
	if _, err := New(Config{Topic: "x"}); err == nil {
		t.Error("topic without publisher accepted")
	}
	a, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		a.Record(t.Context(), Event{Kind: KindAuthentication, Reason: "made-up-" + string(rune('A'+i))})
	}
	a.Close(t.Context())
	if n := testutil.CollectAndCount(a.Metrics(), "wasmesh_audit_denied_requests_total"); n != maxReasonLabels+1 {
		t.Errorf("%d reason series, want %d plus other", n, maxReasonLabels)
	}
	if got := testutil.ToFloat64(a.Metrics().deniedVec.WithLabelValues(KindAuthentication, reasonOther)); got != 100-maxReasonLabels {
		t.Errorf("other %v", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
