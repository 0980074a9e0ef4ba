package rabbitmq_test

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/rabbitmq"
)

// The benchmarks compare the adapter with the raw amqp091 client doing the
// same work in the same run: publish one persistent message and wait for
// its confirm; consume with prefetch 32 and ack each message. Both use a
// classic durable queue through the default exchange.
// Run: go test -run ^$ -bench . ./brokers/rabbitmq/
var payload = make([]byte, 256)

func benchQueue(b *testing.B) string {
	requireRabbit(b)
	q := prefix(b)
	c, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	cleanup(b, url, []string{q}, nil)
	return q
}

func rawChannel(b *testing.B) (*amqp.Connection, *amqp.Channel) {
	c, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	ch, err := c.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	return c, ch
}

func rawPublishing() amqp.Publishing {
	// What the adapter sends: message id, timestamp, persistent mode and the
	// CloudEvents headers.
	return amqp.Publishing{MessageId: "id", DeliveryMode: amqp.Persistent, Body: payload,
		Headers: amqp.Table{"ce_id": "id", "ce_specversion": "1.0", "ce_time": "2026-01-01T00:00:00Z"}}
}

func BenchmarkPublishConfirm(b *testing.B) {
	ctx := context.Background()
	b.Run("raw-amqp091", func(b *testing.B) {
		q := benchQueue(b)
		c, ch := rawChannel(b)
		defer c.Close()
		pub := rawPublishing()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, true, false, pub)
			if err != nil {
				b.Fatal(err)
			}
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				b.Fatal("not confirmed", err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("adapter", func(b *testing.B) {
		q := benchQueue(b)
		br := open(b, rabbitmq.Options{Topology: rabbitmq.Topology{Queues: []rabbitmq.Queue{{Name: q}}}})
		defer br.Close(ctx)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := br.Publish(ctx, q, &brokers.Message{ID: "id", Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// fill puts n messages in q, outside the timed region.
func fill(b *testing.B, q string, n int) {
	ctx := context.Background()
	c, ch := rawChannel(b)
	defer c.Close()
	pub := rawPublishing()
	var last *amqp.DeferredConfirmation
	for i := 0; i < n; i++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, false, false, pub)
		if err != nil {
			b.Fatal(err)
		}
		last = dc
	}
	if last != nil {
		last.Wait()
	}
}

func BenchmarkConsumeAck(b *testing.B) {
	ctx := context.Background()
	b.Run("raw-amqp091", func(b *testing.B) {
		q := benchQueue(b)
		fill(b, q, b.N)
		c, ch := rawChannel(b)
		defer c.Close()
		b.ReportAllocs()
		b.ResetTimer()
		if err := ch.Qos(32, 0, false); err != nil {
			b.Fatal(err)
		}
		ds, err := ch.Consume(q, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			d := <-ds
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("adapter", func(b *testing.B) {
		q := benchQueue(b)
		fill(b, q, b.N)
		br := open(b, rabbitmq.Options{Prefetch: 32})
		defer br.Close(ctx)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		ch, err := br.Subscribe(sctx, q, brokers.SubscribeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			if err := (<-ch).Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkPublishConfirmBatch publishes 100 messages, then waits for all
// their confirms (one op = one message).
func BenchmarkPublishConfirmBatch(b *testing.B) {
	ctx := context.Background()
	const batch = 100
	b.Run("raw-amqp091", func(b *testing.B) {
		q := benchQueue(b)
		c, ch := rawChannel(b)
		defer c.Close()
		pub := rawPublishing()
		dcs := make([]*amqp.DeferredConfirmation, 0, batch)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; {
			dcs = dcs[:0]
			for j := 0; j < batch && i < b.N; j, i = j+1, i+1 {
				dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, true, false, pub)
				if err != nil {
					b.Fatal(err)
				}
				dcs = append(dcs, dc)
			}
			for _, dc := range dcs {
				if ok, err := dc.WaitContext(ctx); !ok || err != nil {
					b.Fatal("not confirmed", err)
				}
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("adapter", func(b *testing.B) {
		q := benchQueue(b)
		br := open(b, rabbitmq.Options{Topology: rabbitmq.Topology{Queues: []rabbitmq.Queue{{Name: q}}}})
		defer br.Close(ctx)
		msgs := make([]*brokers.Message, 0, batch)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; {
			msgs = msgs[:0]
			for j := 0; j < batch && i < b.N; j, i = j+1, i+1 {
				msgs = append(msgs, &brokers.Message{ID: "id", Payload: payload})
			}
			if err := br.Publish(ctx, q, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
