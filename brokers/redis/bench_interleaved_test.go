package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/redis"
)

// The interleaved benchmarks alternate one raw operation and one adapter
// operation per iteration and time each side separately, so that load from
// other processes on a shared machine hits both sides alike. They report
// raw-us/msg, adapter-us/msg and adapter/raw (1.05 = 5% slower).
func report(b *testing.B, raw, adapter time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(raw.Microseconds())/n, "raw-us/msg")
	b.ReportMetric(float64(adapter.Microseconds())/n, "adapter-us/msg")
	b.ReportMetric(float64(adapter)/float64(raw), "adapter/raw")
}

func BenchmarkInterleavedStreamsPublish(b *testing.B) {
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	br := open(b, redis.Options{})
	defer br.Close(ctx)
	id := uuid.NewString()
	rawStream, adStream := "wasmesh-bench:raw:"+id, "wasmesh-bench:adapter:"+id
	defer c.Del(ctx, rawStream, adStream)
	var raw, ad time.Duration
	b.ResetTimer()
	rawOp := func() {
		values := []any{"payload", payload, "key", "", "h:ce_specversion", "1.0", "h:ce_id", "id",
			"h:ce_time", time.Now().UTC().Format(time.RFC3339Nano)}
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: rawStream, Values: values}).Err(); err != nil {
			b.Fatal(err)
		}
	}
	adOp := func() {
		if err := br.Publish(ctx, adStream, &brokers.Message{ID: "id", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < b.N; i++ {
		// Alternate which side goes first, so neither always follows the other.
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
	report(b, raw, ad)
}

func BenchmarkInterleavedStreamsConsumeAck(b *testing.B) {
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	br := open(b, redis.Options{ClaimIdle: brokers.Duration(time.Minute), ClaimInterval: brokers.Duration(time.Minute)})
	defer br.Close(ctx)
	id := uuid.NewString()
	rawStream, adStream := "wasmesh-bench:raw:"+id, "wasmesh-bench:adapter:"+id
	defer c.Del(ctx, rawStream, adStream)
	fill(b, c, rawStream, b.N)
	fill(b, c, adStream, b.N)
	if err := c.XGroupCreate(ctx, rawStream, "g", "0").Err(); err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := br.Subscribe(sctx, adStream, brokers.SubscribeOptions{Group: "g"})
	if err != nil {
		b.Fatal(err)
	}
	var buf []goredis.XMessage
	var raw, ad time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if len(buf) == 0 {
			res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{rawStream, ">"}, Count: 32, Block: time.Second}).Result()
			if err != nil {
				b.Fatal(err)
			}
			buf = res[0].Messages
		}
		if err := c.XAck(ctx, rawStream, "g", buf[0].ID).Err(); err != nil {
			b.Fatal(err)
		}
		buf = buf[1:]
		t1 := time.Now()
		if err := (<-ch).Ack(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		raw += t1.Sub(t0)
		ad += t2.Sub(t1)
	}
	report(b, raw, ad)
}
