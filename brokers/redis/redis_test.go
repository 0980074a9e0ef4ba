package redis_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/brokertest"
	"github.com/wasmesh/wasmesh/brokers/redis"
)

const url = "redis://127.0.0.1:6379/0"

// requireRedis skips (or, with CI=true, fails) when no Redis server runs.
func requireRedis(t testing.TB) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis must run on 127.0.0.1:6379 (apt-get install redis-server; service redis-server start): %v", err)
		}
		t.Skipf("no Redis on 127.0.0.1:6379: %v", err)
	}
}

func open(t testing.TB, o redis.Options) *redis.Broker {
	t.Helper()
	requireRedis(t)
	o.URL = url
	if o.ClaimIdle == 0 {
		o.ClaimIdle = brokers.Duration(300 * time.Millisecond)
		o.ClaimInterval = brokers.Duration(100 * time.Millisecond)
	}
	o.Block = brokers.Duration(100 * time.Millisecond)
	b, err := redis.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// topic returns a unique stream/channel name and deletes it after the test.
func topic(t testing.TB, b *redis.Broker) string {
	name := "wasmesh-test:" + uuid.NewString()
	t.Cleanup(func() {
		_ = goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"}).Del(context.Background(), name).Err()
	})
	return name
}

func TestConformanceStreams(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(t *testing.T) brokers.Broker { return open(t, redis.Options{}) },
		Topic: func(t *testing.T, b brokers.Broker) brokertest.Topic {
			n := topic(t, b.(*redis.Broker))
			return brokertest.Topic{Pub: n, Sub: n}
		},
	})
}

func TestConformancePubSub(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(t *testing.T) brokers.Broker { return open(t, redis.Options{Mode: redis.ModePubSub}) },
		Topic: func(t *testing.T, b brokers.Broker) brokertest.Topic {
			n := topic(t, b.(*redis.Broker))
			return brokertest.Topic{Pub: n, Sub: n}
		},
	})
}

// A Streams consumer dies holding unacked entries: another consumer of the
// group takes them over with XAUTOCLAIM and acks them.
func TestStreamsKilledConsumerReclaimed(t *testing.T) {
	ctx := context.Background()
	dying := open(t, redis.Options{})
	stream := topic(t, dying)
	msgs := make([]*brokers.Message, 5)
	for i := range msgs {
		msgs[i] = brokers.NewMessage([]byte{byte('a' + i)})
	}
	if err := dying.Publish(ctx, stream, msgs...); err != nil {
		t.Fatal(err)
	}
	ch, err := dying.Subscribe(ctx, stream, brokers.SubscribeOptions{Group: "workers", Consumer: "dying", Prefetch: 5})
	if err != nil {
		t.Fatal(err)
	}
	for range msgs {
		select {
		case <-ch: // received, never acked
		case <-time.After(5 * time.Second):
			t.Fatal("dying consumer got nothing")
		}
	}
	// Kill it: its connection goes away without a single XACK.
	if err := dying.Close(ctx); err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer raw.Close()
	pend, err := raw.XPending(ctx, stream, "workers").Result()
	if err != nil || pend.Count != 5 || pend.Consumers["dying"] != 5 {
		t.Fatalf("before takeover: pending %+v err %v", pend, err)
	}

	heir := open(t, redis.Options{})
	defer heir.Close(ctx)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch2, err := heir.Subscribe(sctx, stream, brokers.SubscribeOptions{Group: "workers", Consumer: "heir"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for len(got) < len(msgs) {
		select {
		case d := <-ch2:
			got[d.Message.ID] = d.Attempt
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("heir reclaimed only %d of %d", len(got), len(msgs))
		}
	}
	for _, m := range msgs {
		if got[m.ID] < 2 {
			t.Errorf("message %s: attempt %d, want >= 2 (it was delivered before)", m.ID, got[m.ID])
		}
	}
	if pend, _ := raw.XPending(ctx, stream, "workers").Result(); pend.Count != 0 {
		t.Fatalf("after takeover and ack: %d still pending", pend.Count)
	}
}

func TestPubSubPatternAndForeignPublisher(t *testing.T) {
	ctx := context.Background()
	b := open(t, redis.Options{Mode: redis.ModePubSub})
	defer b.Close(ctx)
	prefix := "wasmesh-test:" + uuid.NewString()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Subscribe(sctx, prefix+".*", brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := brokers.NewMessage([]byte("hello"))
	m.Type = "greeting"
	if err := b.Publish(ctx, prefix+".eu", m); err != nil {
		t.Fatal(err)
	}
	// What redis-cli PUBLISH sends: a bare string, no envelope.
	raw := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer raw.Close()
	if err := raw.Publish(ctx, prefix+".us", "plain text").Err(); err != nil {
		t.Fatal(err)
	}
	d1, d2 := <-ch, <-ch
	if d1.Message.ID != m.ID || d1.Message.Type != "greeting" || d1.Message.Header("x-redis-channel") != prefix+".eu" {
		t.Errorf("pattern delivery: %+v", d1.Message)
	}
	if string(d2.Message.Payload) != "plain text" || d2.Message.ID == "" {
		t.Errorf("foreign message: %+v", d2.Message)
	}

	strict := open(t, redis.Options{Mode: redis.ModePubSub, RequireSubscribers: true})
	defer strict.Close(ctx)
	if err := strict.Publish(ctx, prefix+"-nobody", brokers.NewMessage(nil)); !errors.Is(err, brokers.ErrUnroutable) {
		t.Fatalf("publish with no subscriber: %v, want ErrUnroutable", err)
	}
}

func TestStreamEntryReadableByRedisCLI(t *testing.T) {
	ctx := context.Background()
	b := open(t, redis.Options{})
	defer b.Close(ctx)
	s := topic(t, b)
	m := brokers.NewMessage([]byte("order 42"))
	m.Key = "k"
	if err := b.Publish(ctx, s, m); err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer raw.Close()
	xs, err := raw.XRange(ctx, s, "-", "+").Result()
	if err != nil || len(xs) != 1 {
		t.Fatalf("xrange: %v %v", xs, err)
	}
	v := xs[0].Values
	if v["payload"] != "order 42" || v["key"] != "k" || v["h:ce_id"] != m.ID {
		t.Fatalf("entry fields: %v", v)
	}
}

func TestOpenErrors(t *testing.T) {
	requireRedis(t)
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  brokers.Config
		want error
	}{
		{"bad url", brokers.Config{Name: "r", Type: "redis", URL: "http://nope"}, brokers.ErrBadInput},
		{"bad mode", brokers.Config{Name: "r", Type: "redis", URL: url, Options: []byte(`{"mode":"queue"}`)}, brokers.ErrBadInput},
		{"unknown option", brokers.Config{Name: "r", Type: "redis", URL: url, Options: []byte(`{"claimIdel":"1s"}`)}, brokers.ErrBadInput},
		{"bad password", brokers.Config{Name: "r", Type: "redis", URL: "redis://nobody:wrong@127.0.0.1:6379/0"}, brokers.ErrBadInput},
		{"unreachable", brokers.Config{Name: "r", Type: "redis", URL: "redis://127.0.0.1:1/0"}, brokers.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			b, err := brokers.Open(cctx, tt.cfg, brokers.Env{})
			if err == nil {
				_ = b.Close(ctx)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
