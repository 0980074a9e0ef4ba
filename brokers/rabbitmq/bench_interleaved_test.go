package rabbitmq_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/rabbitmq"
)

// The interleaved benchmarks alternate one raw amqp091 operation and one
// adapter operation per iteration (which goes first alternates too) and
// time each side separately, so load from other processes on a shared
// machine hits both alike. They report raw-us/msg, adapter-us/msg and
// adapter/raw (1.05 = 5% slower).
func report(b *testing.B, raw, adapter time.Duration, msgsPerOp int) {
	n := float64(b.N * msgsPerOp)
	b.ReportMetric(float64(raw.Microseconds())/n, "raw-us/msg")
	b.ReportMetric(float64(adapter.Microseconds())/n, "adapter-us/msg")
	b.ReportMetric(float64(adapter)/float64(raw), "adapter/raw")
}

func interleave(b *testing.B, msgsPerOp int, rawOp, adOp func()) {
	var raw, ad time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, second, df, ds := rawOp, adOp, &raw, &ad
		if i%2 == 1 {
			first, second, df, ds = adOp, rawOp, &ad, &raw
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		*df += t1.Sub(t0)
		*ds += time.Since(t1)
	}
	report(b, raw, ad, msgsPerOp)
}

// Publish 10 persistent messages and wait for their confirms (one op = 10
// messages; the us/msg figures divide by 10).
func BenchmarkInterleavedPublishConfirm(b *testing.B) {
	ctx := context.Background()
	const batch = 10
	rq, aq := benchQueue(b), benchQueue(b)
	c, ch := rawChannel(b)
	defer c.Close()
	br := open(b, rabbitmq.Options{Topology: rabbitmq.Topology{Queues: []rabbitmq.Queue{{Name: aq}}}})
	defer br.Close(ctx)
	pub := rawPublishing()
	dcs := make([]*amqp.DeferredConfirmation, batch)
	msgs := make([]*brokers.Message, batch)
	interleave(b, batch, func() {
		for j := range dcs {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", rq, true, false, pub)
			if err != nil {
				b.Fatal(err)
			}
			dcs[j] = dc
		}
		for _, dc := range dcs {
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				b.Fatal("not confirmed", err)
			}
		}
	}, func() {
		for j := range msgs {
			msgs[j] = &brokers.Message{ID: "id", Payload: payload}
		}
		if err := br.Publish(ctx, aq, msgs...); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkInterleavedConsumeAck(b *testing.B) {
	ctx := context.Background()
	rq, aq := benchQueue(b), benchQueue(b)
	fill(b, rq, b.N)
	fill(b, aq, b.N)
	c, ch := rawChannel(b)
	defer c.Close()
	if err := ch.Qos(32, 0, false); err != nil {
		b.Fatal(err)
	}
	ds, err := ch.Consume(rq, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	br := open(b, rabbitmq.Options{Prefetch: 32})
	defer br.Close(ctx)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ach, err := br.Subscribe(sctx, aq, brokers.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	interleave(b, 1, func() {
		if err := (<-ds).Ack(false); err != nil {
			b.Fatal(err)
		}
	}, func() {
		if err := (<-ach).Ack(ctx); err != nil {
			b.Fatal(err)
		}
	})
}
