package rabbitmq_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/rabbitmq"
)

// A headers exchange routes on message headers (x-match all), and a
// fanout exchange copies to every bound queue.
func TestHeadersAndFanoutExchanges(t *testing.T) {
	ctx := context.Background()
	p := prefix(t)
	hx, fx, eu, us, all1, all2 := p+".hx", p+".fx", p+".eu", p+".us", p+".all1", p+".all2"
	cleanup(t, url, []string{eu, us, all1, all2}, []string{hx, fx})
	b := open(t, rabbitmq.Options{Topology: rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: hx, Type: "headers"}, {Name: fx, Type: "fanout"}},
		Queues:    []rabbitmq.Queue{{Name: eu}, {Name: us}, {Name: all1}, {Name: all2}},
		Bindings: []rabbitmq.Binding{
			{Exchange: hx, Queue: eu, Arguments: map[string]any{"x-match": "all", "region": "eu"}},
			{Exchange: hx, Queue: us, Arguments: map[string]any{"x-match": "all", "region": "us"}},
			{Exchange: fx, Queue: all1}, {Exchange: fx, Queue: all2},
		},
	}})
	defer b.Close(ctx)

	m := brokers.NewMessage([]byte("to eu"))
	m.SetHeader("region", "eu")
	if err := b.Publish(ctx, hx, m); err != nil {
		t.Fatal(err)
	}
	f := brokers.NewMessage([]byte("to all"))
	if err := b.Publish(ctx, fx, f); err != nil {
		t.Fatal(err)
	}
	expect := func(queue, id string) {
		t.Helper()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := b.Subscribe(sctx, queue, brokers.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-ch:
			_ = d.Ack(ctx)
			if d.Message.ID != id {
				t.Fatalf("queue %s got %s, want %s", queue, d.Message.ID, id)
			}
		case <-time.After(200 * time.Millisecond):
			if id != "" {
				t.Fatalf("queue %s got nothing, want %s", queue, id)
			}
			return
		}
		if id == "" {
			t.Fatalf("queue %s got a message, want none", queue)
		}
	}
	expect(eu, m.ID)
	expect(us, "")
	expect(all1, f.ID)
	expect(all2, f.ID)
}

// Prefetch bounds the unacked deliveries RabbitMQ hands one subscription.
func TestPrefetchBoundsUnacked(t *testing.T) {
	ctx := context.Background()
	b := open(t, rabbitmq.Options{})
	defer b.Close(ctx)
	tp := pair(t, b, url, "classic")
	msgs := make([]*brokers.Message, 10)
	for i := range msgs {
		msgs[i] = brokers.NewMessage(nil)
	}
	if err := b.Publish(ctx, tp.Pub, msgs...); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Subscribe(sctx, tp.Sub, brokers.SubscribeOptions{Prefetch: 3})
	if err != nil {
		t.Fatal(err)
	}
	var held []*brokers.Delivery
	for len(held) < 3 {
		select {
		case d := <-ch:
			held = append(held, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d deliveries, want 3", len(held))
		}
	}
	select {
	case d := <-ch:
		t.Fatalf("a 4th delivery (%s) arrived with 3 unacked and prefetch 3", d.Message.ID)
	case <-time.After(300 * time.Millisecond):
	}
	_ = held[0].Ack(ctx)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery after an ack freed a prefetch slot")
	}
}

// Queue arguments from JSON config (numbers arrive as float64) reach
// RabbitMQ as integers.
func TestArgumentsFromJSONConfig(t *testing.T) {
	requireRabbit(t)
	ctx := context.Background()
	p := prefix(t)
	cleanup(t, url, []string{p + ".prio"}, nil)
	cfg := brokers.Config{Name: "r", Type: "rabbitmq", URL: url,
		Options: []byte(`{"queues":[{"name":"` + p + `.prio","arguments":{"x-max-priority":5}}]}`)}
	b, err := brokers.Open(ctx, cfg, brokers.Env{})
	if err != nil {
		t.Fatalf("x-max-priority from JSON: %v", err)
	}
	_ = b.Close(ctx)
}

// A subscription reports its queue's ready messages as the lag gauge.
func TestLagGauge(t *testing.T) {
	ctx := context.Background()
	metrics := brokers.NewMetrics("lagtest")
	b := open(t, rabbitmq.Options{Metrics: metrics, LagInterval: brokers.Duration(50 * time.Millisecond)})
	defer b.Close(ctx)
	tp := pair(t, b, url, "classic")
	msgs := make([]*brokers.Message, 5)
	for i := range msgs {
		msgs[i] = brokers.NewMessage(nil)
	}
	if err := b.Publish(ctx, tp.Pub, msgs...); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Subscribe(sctx, tp.Sub, brokers.SubscribeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	<-ch // one held unacked: 4 remain ready
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := -1.0
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "lagtest_messaging_consumer_lag_messages" {
				v = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if v == 4 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag gauge %v, want 4", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
