package rabbitmq_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/brokertest"
	"github.com/wasmesh/wasmesh/brokers/rabbitmq"
)

const url = "amqp://guest:guest@127.0.0.1:5672/"

func requireRabbit(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5672", 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ must run on 127.0.0.1:5672 with guest/guest (apt-get install rabbitmq-server): %v", err)
		}
		t.Skipf("no RabbitMQ on 127.0.0.1:5672: %v", err)
	}
	_ = c.Close()
}

func open(t testing.TB, o rabbitmq.Options) *rabbitmq.Broker {
	t.Helper()
	requireRabbit(t)
	if o.URL == "" {
		o.URL = url
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = brokers.Duration(300 * time.Millisecond)
	}
	o.ReconnectMin = brokers.Duration(50 * time.Millisecond)
	o.ReconnectMax = brokers.Duration(time.Second)
	b, err := rabbitmq.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prefix returns a unique name prefix for one test's exchanges and queues.
func prefix(t testing.TB) string {
	return "wasmesh-test." + strings.NewReplacer("/", ".", " ", "_").Replace(t.Name()) + "." + uuid.NewString()[:8]
}

// cleanup deletes queues and exchanges with a raw connection after the test.
func cleanup(t testing.TB, amqpURL string, queues, exchanges []string) {
	t.Cleanup(func() {
		c, err := amqp.Dial(amqpURL)
		if err != nil {
			return
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			return
		}
		for _, q := range queues {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
		for _, e := range exchanges {
			_ = ch.ExchangeDelete(e, false, false)
		}
	})
}

// pair declares exchange P (topic) and a quorum queue P.q bound with "#".
func pair(t testing.TB, b *rabbitmq.Broker, amqpURL string, queueType string) brokertest.Topic {
	p := prefix(t)
	ex, q := p+".x", p+".q"
	cleanup(t, amqpURL, []string{q}, []string{ex})
	err := b.Declare(context.Background(), rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: ex, Type: "topic"}},
		Queues:    []rabbitmq.Queue{{Name: q, Type: queueType}},
		Bindings:  []rabbitmq.Binding{{Exchange: ex, Queue: q, RoutingKey: "#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return brokertest.Topic{Pub: ex, Sub: q}
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(t *testing.T) brokers.Broker { return open(t, rabbitmq.Options{}) },
		Topic: func(t *testing.T, b brokers.Broker) brokertest.Topic {
			return pair(t, b.(*rabbitmq.Broker), url, "quorum")
		},
	})
}

func TestUnroutable(t *testing.T) {
	ctx := context.Background()
	b := open(t, rabbitmq.Options{})
	defer b.Close(ctx)
	p := prefix(t)
	ex, q := p+".x", p+".q"
	cleanup(t, url, []string{q}, []string{ex})
	if err := b.Declare(ctx, rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: ex, Type: "direct"}},
		Queues:    []rabbitmq.Queue{{Name: q}},
		Bindings:  []rabbitmq.Binding{{Exchange: ex, Queue: q, RoutingKey: "known"}},
	}); err != nil {
		t.Fatal(err)
	}
	ok, lost := brokers.NewMessage([]byte("a")), brokers.NewMessage([]byte("b"))
	ok.Key, lost.Key = "known", "unknown"
	err := b.Publish(ctx, ex, ok, lost)
	if !errors.Is(err, brokers.ErrUnroutable) || !strings.Contains(err.Error(), lost.ID) {
		t.Fatalf("publish with an unbound key: %v, want ErrUnroutable naming %s", err, lost.ID)
	}
	if err := b.Publish(ctx, p+".missing-exchange", brokers.NewMessage(nil)); !errors.Is(err, brokers.ErrUnroutable) {
		t.Fatalf("publish to a missing exchange: %v, want ErrUnroutable", err)
	}
	// The pool recovers from the channel the missing exchange closed.
	if err := b.Publish(ctx, ex, ok); err != nil {
		t.Fatalf("publish after a channel error: %v", err)
	}
	// A topic naming only a queue publishes through the default exchange.
	direct := brokers.NewMessage([]byte("direct"))
	if err := b.Publish(ctx, q, direct); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := b.Subscribe(sctx, p+".missing-queue", brokers.SubscribeOptions{}); !errors.Is(err, brokers.ErrBadInput) {
		t.Fatalf("subscribe to a missing queue: %v, want ErrBadInput", err)
	}
	ch, err := b.Subscribe(sctx, q, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 3 {
		d := <-ch
		got[d.Message.ID] = true
		_ = d.Ack(ctx)
	}
	if !got[ok.ID] || !got[direct.ID] || got[lost.ID] {
		t.Fatalf("queue got %v", got)
	}
}

// Dead-letter exchange, TTL and length limit, declared from config.
func TestTopologyDeadLetteringTTLAndLimits(t *testing.T) {
	ctx := context.Background()
	p := prefix(t)
	work, dlx, dlq, ttl, short := p+".work", p+".dlx", p+".dlq", p+".ttl", p+".short"
	cleanup(t, url, []string{work, dlq, ttl, short}, []string{dlx})
	b := open(t, rabbitmq.Options{Topology: rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: dlx, Type: "fanout"}},
		Queues: []rabbitmq.Queue{
			{Name: work, Type: "quorum", DeadLetterExchange: dlx},
			{Name: dlq},
			{Name: ttl, MessageTTL: brokers.Duration(50 * time.Millisecond), DeadLetterExchange: dlx},
			{Name: short, MaxLength: 2, Overflow: "reject-publish"},
		},
		Bindings: []rabbitmq.Binding{{Exchange: dlx, Queue: dlq}},
	}})
	defer b.Close(ctx)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch, err := b.Subscribe(sctx, work, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	poison := brokers.NewMessage([]byte("poison"))
	if err := b.Publish(ctx, work, poison); err != nil {
		t.Fatal(err)
	}
	d := <-wch
	if err := d.Nack(ctx, false); err != nil {
		t.Fatal(err)
	}
	expired := brokers.NewMessage([]byte("expired"))
	if err := b.Publish(ctx, ttl, expired); err != nil {
		t.Fatal(err)
	}
	dch, err := b.Subscribe(sctx, dlq, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case d := <-dch:
			got[d.Message.ID] = true
			_ = d.Ack(ctx)
		case <-time.After(10 * time.Second):
			t.Fatalf("dead-letter queue got only %v", got)
		}
	}
	if !got[poison.ID] || !got[expired.ID] {
		t.Fatalf("dead-letter queue got %v, want the nacked and the expired message", got)
	}

	for i := range 2 {
		if err := b.Publish(ctx, short, brokers.NewMessage(nil)); err != nil {
			t.Fatalf("publish %d within the limit: %v", i, err)
		}
	}
	if err := b.Publish(ctx, short, brokers.NewMessage(nil)); !errors.Is(err, brokers.ErrUnavailable) {
		t.Fatalf("publish over max-length with reject-publish: %v, want a nack (ErrUnavailable)", err)
	}
}

func TestOpenErrors(t *testing.T) {
	requireRabbit(t)
	ctx := context.Background()
	p := prefix(t)
	tests := []struct {
		name string
		cfg  brokers.Config
		want error
		text string
	}{
		{"bad url", brokers.Config{Name: "r", Type: "rabbitmq", URL: "http://x"}, brokers.ErrBadInput, "url"},
		{"bad credentials", brokers.Config{Name: "r", Type: "rabbitmq", URL: "amqp://guest:wrong@127.0.0.1:5672/"}, brokers.ErrBadInput, "password"},
		{"unreachable", brokers.Config{Name: "r", Type: "rabbitmq", URL: "amqp://guest:guest@127.0.0.1:1/"}, brokers.ErrUnavailable, ""},
		{"bad exchange type", brokers.Config{Name: "r", Type: "rabbitmq", URL: url,
			Options: []byte(`{"exchanges":[{"name":"x","type":"round-robin"}]}`)}, brokers.ErrBadInput, "round-robin"},
		{"missing exchange", brokers.Config{Name: "r", Type: "rabbitmq", URL: url,
			Options: []byte(`{"queues":[{"name":"` + p + `.q","autoDelete":true,"durable":false}],"bindings":[{"exchange":"` + p + `.nope","queue":"` + p + `.q"}]}`)},
			brokers.ErrBadInput, "does not exist"},
		{"unknown option", brokers.Config{Name: "r", Type: "rabbitmq", URL: url, Options: []byte(`{"prefetchCount":1}`)}, brokers.ErrBadInput, "prefetchCount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			b, err := brokers.Open(cctx, tt.cfg, brokers.Env{})
			if err == nil {
				_ = b.Close(ctx)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
	cleanup(t, url, []string{p + ".q"}, nil)
}

// A consumer whose connection dies while it holds an unacked message: the
// message is redelivered to the next consumer.
func TestConsumerKilledBeforeAck(t *testing.T) {
	ctx := context.Background()
	victim := open(t, rabbitmq.Options{DrainTimeout: brokers.Duration(time.Millisecond)})
	tp := pair(t, victim, url, "quorum")
	m := brokers.NewMessage([]byte("important"))
	if err := victim.Publish(ctx, tp.Pub, m); err != nil {
		t.Fatal(err)
	}
	ch, err := victim.Subscribe(ctx, tp.Sub, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := <-ch; d.Message.ID != m.ID {
		t.Fatalf("got %s", d.Message.ID)
	}
	_ = victim.Close(ctx) // dies holding the delivery, never acked

	heir := open(t, rabbitmq.Options{})
	defer heir.Close(ctx)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch2, err := heir.Subscribe(sctx, tp.Sub, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-ch2:
		if d.Message.ID != m.ID || d.Attempt != 2 {
			t.Fatalf("redelivered %s attempt %d", d.Message.ID, d.Attempt)
		}
		_ = d.Ack(ctx)
	case <-time.After(10 * time.Second):
		t.Fatal("unacked message not redelivered")
	}
}
