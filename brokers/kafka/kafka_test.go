package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/brokertest"
	"github.com/wasmesh/wasmesh/brokers/kafka"
)

// cluster starts an in-process Kafka wire-protocol server (kfake) for one test.
func cluster(t testing.TB) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return "kafka://" + strings.Join(c.ListenAddrs(), ",")
}

func open(t testing.TB, url string, o kafka.Options) *kafka.Broker {
	t.Helper()
	o.URL = url
	o.RetryDelay = brokers.Duration(time.Millisecond)
	o.SessionTimeout = brokers.Duration(2 * time.Second)
	o.HeartbeatInterval = brokers.Duration(200 * time.Millisecond)
	o.CommitInterval = brokers.Duration(100 * time.Millisecond)
	o.DrainTimeout = brokers.Duration(300 * time.Millisecond)
	b, err := kafka.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTopic(t testing.TB, b *kafka.Broker, partitions int32) string {
	t.Helper()
	name := "wasmesh-test-" + uuid.NewString()[:8]
	if err := b.Declare(context.Background(), kafka.TopicSpec{Name: name, Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(t *testing.T) brokers.Broker { return open(t, cluster(t), kafka.Options{}) },
		Topic: func(t *testing.T, b brokers.Broker) brokertest.Topic {
			n := newTopic(t, b.(*kafka.Broker), 3)
			return brokertest.Topic{Pub: n, Sub: n}
		},
		Quiet: 500 * time.Millisecond,
	})
}

func collect(t *testing.T, ch <-chan *brokers.Delivery, n int, ack bool) []*brokers.Delivery {
	t.Helper()
	var out []*brokers.Delivery
	for len(out) < n {
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed after %d of %d", len(out), n)
			}
			out = append(out, d)
			if ack {
				if err := d.Ack(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("got %d of %d deliveries", len(out), n)
		}
	}
	return out
}

func TestPartitioning(t *testing.T) {
	ctx := context.Background()
	b := open(t, cluster(t), kafka.Options{})
	defer b.Close(ctx)
	topic := newTopic(t, b, 4)
	var msgs []*brokers.Message
	for i := range 12 {
		m := brokers.NewMessage([]byte{byte(i)})
		m.Key = []string{"alpha", "beta", "gamma"}[i%3]
		msgs = append(msgs, m)
	}
	pinned := brokers.NewMessage([]byte("pinned"))
	pinned.SetPartition(3)
	msgs = append(msgs, pinned)
	if err := b.Publish(ctx, topic, msgs...); err != nil {
		t.Fatal(err)
	}
	bad := brokers.NewMessage(nil)
	bad.SetPartition(9)
	if err := b.Publish(ctx, topic, bad); err == nil {
		t.Fatal("publish to partition 9 of 4 succeeded")
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Subscribe(sctx, topic, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]string{}
	for _, d := range collect(t, ch, len(msgs), true) {
		p := d.Message.Header("x-kafka-partition")
		if d.Message.ID == pinned.ID {
			if p != "3" {
				t.Errorf("pinned message on partition %s, want 3", p)
			}
			continue
		}
		if prev, ok := byKey[d.Message.Key]; ok && prev != p {
			t.Errorf("key %s on partitions %s and %s", d.Message.Key, prev, p)
		}
		byKey[d.Message.Key] = p
	}
}

// Offsets are committed only for settled deliveries: a consumer that acks
// the first half and goes away leaves the second half to the next one.
func TestOffsetsCommittedOnlyAfterAck(t *testing.T) {
	ctx := context.Background()
	url := cluster(t)
	metrics := brokers.NewMetrics("t")
	b1 := open(t, url, kafka.Options{Metrics: metrics, Name: "k"})
	topic := newTopic(t, b1, 1)
	var msgs []*brokers.Message
	for i := range 10 {
		msgs = append(msgs, brokers.NewMessage([]byte{byte(i)}))
	}
	if err := b1.Publish(ctx, topic, msgs...); err != nil {
		t.Fatal(err)
	}
	ch, err := b1.Subscribe(ctx, topic, brokers.SubscribeOptions{Group: "billing", Prefetch: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, ch, 10, false)
	// Ack 0-4 and 6; 5 stays unsettled, so the commit mark stops at 5.
	for i, d := range got {
		if i < 5 || i == 6 {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if lag := gauge(t, metrics, "t_messaging_consumer_lag_messages"); lag != 0 {
		t.Errorf("lag after reading everything: %v, want 0", lag)
	}
	if err := b1.Close(ctx); err != nil {
		t.Fatal(err)
	}

	b2 := open(t, url, kafka.Options{})
	defer b2.Close(ctx)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch2, err := b2.Subscribe(sctx, topic, brokers.SubscribeOptions{Group: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	again := collect(t, ch2, 5, true)
	for i, d := range again {
		if d.Message.ID != msgs[5+i].ID {
			t.Fatalf("redelivery %d is %s, want %s (offset 5 onwards)", i, d.Message.Payload, msgs[5+i].Payload)
		}
	}
	select {
	case d := <-ch2:
		t.Fatalf("unexpected extra delivery %v", d.Message.Payload)
	case <-time.After(500 * time.Millisecond):
	}
}

func gauge(t *testing.T, m *brokers.Metrics, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestStartPositions(t *testing.T) {
	ctx := context.Background()
	b := open(t, cluster(t), kafka.Options{})
	defer b.Close(ctx)
	topic := newTopic(t, b, 1)
	old := brokers.NewMessage([]byte("old"))
	if err := b.Publish(ctx, topic, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	newer := brokers.NewMessage([]byte("new"))
	if err := b.Publish(ctx, topic, newer); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts brokers.SubscribeOptions
		want string
	}{
		{"earliest", brokers.SubscribeOptions{Group: "e"}, "old"},
		{"timestamp", brokers.SubscribeOptions{Group: "ts", Start: brokers.StartAtTime, StartTime: mid}, "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, err := b.Subscribe(sctx, topic, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := collect(t, ch, 1, true)[0]; string(d.Message.Payload) != tt.want {
				t.Fatalf("first delivery %q, want %q", d.Message.Payload, tt.want)
			}
		})
	}
	t.Run("latest", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := b.Subscribe(sctx, topic, brokers.SubscribeOptions{Group: "l", Start: brokers.StartLatest})
		if err != nil {
			t.Fatal(err)
		}
		// Publish until the new group has joined and sees one.
		latest := brokers.NewMessage([]byte("latest"))
		deadline := time.After(15 * time.Second)
		for {
			if err := b.Publish(ctx, topic, latest.Clone()); err != nil {
				t.Fatal(err)
			}
			select {
			case d := <-ch:
				if string(d.Message.Payload) != "latest" {
					t.Fatalf("latest group got %q", d.Message.Payload)
				}
				return
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatal("latest group got nothing")
			}
		}
	})
}

func TestNackWithoutRequeueGoesToDLQ(t *testing.T) {
	ctx := context.Background()
	b := open(t, cluster(t), kafka.Options{})
	defer b.Close(ctx)
	topic := newTopic(t, b, 2)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Subscribe(sctx, topic, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := brokers.NewMessage([]byte("bad"))
	if err := b.Publish(ctx, topic, m); err != nil {
		t.Fatal(err)
	}
	d := collect(t, ch, 1, false)[0]
	if err := d.Nack(ctx, true); err != nil {
		t.Fatal(err)
	}
	d = collect(t, ch, 1, false)[0]
	if d.Message.ID != m.ID || d.Attempt != 2 {
		t.Fatalf("retry-topic delivery: %s attempt %d", d.Message.ID, d.Attempt)
	}
	if err := d.Nack(ctx, false); err != nil {
		t.Fatal(err)
	}
	dch, err := b.Subscribe(sctx, topic+kafka.DLQSuffix, brokers.SubscribeOptions{Group: "dlq-reader"})
	if err != nil {
		t.Fatal(err)
	}
	dl := collect(t, dch, 1, true)[0]
	if dl.Message.ID != m.ID || dl.Message.Header(kafka.HeaderOriginalTopic) != topic || dl.Message.Header("x-dlq-attempts") != "2" {
		t.Fatalf("dead letter: %+v", dl.Message)
	}
}

func TestOpenErrors(t *testing.T) {
	url := cluster(t)
	tests := []struct {
		name string
		cfg  brokers.Config
		want error
	}{
		{"bad url", brokers.Config{Name: "k", Type: "kafka", URL: "kafka://no-port"}, brokers.ErrBadInput},
		{"bad version", brokers.Config{Name: "k", Type: "kafka", URL: url, Options: []byte(`{"version":"banana"}`)}, brokers.ErrBadInput},
		{"unknown option", brokers.Config{Name: "k", Type: "kafka", URL: url, Options: []byte(`{"acks":"all"}`)}, brokers.ErrBadInput},
		{"unreachable", brokers.Config{Name: "k", Type: "kafka", URL: "127.0.0.1:1"}, brokers.ErrUnavailable},
		{"topic cannot be created", brokers.Config{Name: "k", Type: "kafka", URL: url,
			Options: []byte(`{"topics":[{"name":"t","replicationFactor":3}]}`)}, brokers.ErrUnroutable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := brokers.Open(ctx, tt.cfg, brokers.Env{})
			if err == nil {
				_ = b.Close(ctx)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	ctx := context.Background()
	b := open(t, url, kafka.Options{})
	defer b.Close(ctx)
	if _, err := b.Subscribe(ctx, "no-such-topic", brokers.SubscribeOptions{}); !errors.Is(err, brokers.ErrUnroutable) {
		t.Fatalf("subscribe to a missing topic: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Publish(pctx, "no-such-topic", brokers.NewMessage(nil)); !errors.Is(err, brokers.ErrUnroutable) {
		t.Fatalf("publish to a missing topic: %v, want ErrUnroutable", err)
	}
}
