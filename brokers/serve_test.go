package brokers_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/memory"
)

func TestServeSettlesFromHandlerResult(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	metrics := brokers.NewMetrics("test")
	set, err := brokers.OpenAll(ctx, []brokers.Config{{Name: "mem", Type: "memory", Options: json.RawMessage(`{"prefetch":4}`)}},
		brokers.Env{Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = set.Close(context.Background()) }()
	b, ok := set.Get("mem")
	if !ok {
		t.Fatal("broker not in set")
	}
	if errs := set.Health(ctx); len(errs) != 0 {
		t.Fatalf("health: %v", errs)
	}

	ok1, transient, perm := brokers.NewMessage([]byte("ok")), brokers.NewMessage([]byte("transient")), brokers.NewMessage([]byte("perm"))
	if err := b.Publish(ctx, "t", ok1, transient, perm); err != nil {
		t.Fatal(err)
	}
	attempts := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = brokers.Serve(ctx, b, "t", brokers.SubscribeOptions{}, func(_ context.Context, d *brokers.Delivery) error {
			attempts[string(d.Message.Payload)] = d.Attempt
			switch string(d.Message.Payload) {
			case "transient":
				if d.Attempt < 2 {
					return errors.New("try again")
				}
			case "perm":
				return brokers.Permanent(errors.New("never"))
			}
			return nil
		}, brokers.ServeOptions{})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(metricVec(t, metrics, "test_broker_acked_total")) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if attempts["ok"] != 1 || attempts["transient"] != 2 || attempts["perm"] != 1 {
		t.Fatalf("attempts %v", attempts)
	}
	if n := b.(*memory.Broker).Pending("t", ""); n != 0 {
		t.Fatalf("a permanently failed message was requeued (%d pending)", n)
	}
	if got := testutil.ToFloat64(metricVec(t, metrics, "test_broker_nacked_total")); got != 2 {
		t.Fatalf("nacked %v, want 2", got)
	}
	if got := testutil.ToFloat64(metricVec(t, metrics, "test_broker_published_total")); got != 3 {
		t.Fatalf("published %v, want 3", got)
	}
	if err := set.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Get("mem"); ok {
		t.Fatal("closed set still returns brokers")
	}
}

// metricVec returns a collector holding just the series named name, summed
// over labels, for testutil.ToFloat64.
func metricVec(t *testing.T, m *brokers.Metrics, name string) prometheus.Collector {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, mm := range mf.GetMetric() {
				sum += mm.GetCounter().GetValue()
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sum"})
	g.Set(sum)
	return g
}

func TestOpenAllRejectsDuplicatesAndBadOptions(t *testing.T) {
	ctx := context.Background()
	_, err := brokers.OpenAll(ctx, []brokers.Config{{Name: "a", Type: "memory"}, {Name: "a", Type: "memory"}}, brokers.Env{})
	if !errors.Is(err, brokers.ErrBadInput) {
		t.Fatalf("duplicate names: %v", err)
	}
	_, err = brokers.OpenAll(ctx, []brokers.Config{{Name: "a", Type: "memory", Options: json.RawMessage(`{"prefech":1}`)}}, brokers.Env{})
	if !errors.Is(err, brokers.ErrBadInput) {
		t.Fatalf("typo in options: %v", err)
	}
}
