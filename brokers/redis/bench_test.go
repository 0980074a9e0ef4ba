package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/redis"
)

// The benchmarks compare the adapter with raw go-redis doing the same work
// in the same run: XADD one message and wait for the reply; XREADGROUP and
// XACK each message. Run: go test -run ^$ -bench . ./brokers/redis/
var payload = make([]byte, 256)

func BenchmarkStreamsPublish(b *testing.B) {
	ctx := context.Background()
	b.Run("raw-go-redis", func(b *testing.B) {
		requireRedis(b)
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
		defer c.Close()
		stream := benchStream(b, c)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			// The same fields the adapter writes: payload, key, CloudEvents id,
			// specversion and time.
			values := []any{"payload", payload, "key", "", "h:ce_specversion", "1.0", "h:ce_id", "id",
				"h:ce_time", time.Now().UTC().Format(time.RFC3339Nano)}
			if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("adapter", func(b *testing.B) {
		br := open(b, redis.Options{})
		defer br.Close(ctx)
		stream := benchStream(b, br.Client())
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := br.Publish(ctx, stream, &brokers.Message{ID: "id", Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

func BenchmarkStreamsConsumeAck(b *testing.B) {
	ctx := context.Background()
	b.Run("raw-go-redis", func(b *testing.B) {
		requireRedis(b)
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
		defer c.Close()
		stream := benchStream(b, c)
		fill(b, c, stream, b.N)
		if err := c.XGroupCreate(ctx, stream, "g", "0").Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for n := 0; n < b.N; {
			res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: 32, Block: time.Second}).Result()
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range res[0].Messages {
				if err := c.XAck(ctx, stream, "g", m.ID).Err(); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("adapter", func(b *testing.B) {
		br := open(b, redis.Options{ClaimIdle: brokers.Duration(time.Minute), ClaimInterval: brokers.Duration(time.Minute)})
		defer br.Close(ctx)
		stream := benchStream(b, br.Client())
		fill(b, br.Client(), stream, b.N)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		ch, err := br.Subscribe(sctx, stream, brokers.SubscribeOptions{Group: "g"})
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

func benchStream(b *testing.B, c goredis.UniversalClient) string {
	name := "wasmesh-bench:" + b.Name()
	_ = c.Del(context.Background(), name).Err()
	b.Cleanup(func() { _ = c.Del(context.Background(), name).Err() })
	return name
}

// fill writes n entries in the adapter's format (so both sides read the
// same bytes) using pipelined XADDs outside the timed region.
func fill(b *testing.B, c goredis.UniversalClient, stream string, n int) {
	ctx := context.Background()
	for done := 0; done < n; {
		p := c.Pipeline()
		for i := 0; i < 500 && done < n; i++ {
			p.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"payload", payload, "key", "", "h:ce_id", "id", "h:ce_specversion", "1.0"}})
			done++
		}
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
