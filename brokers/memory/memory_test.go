package memory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

func TestFaultHooks(t *testing.T) {
	ctx := context.Background()
	b := New(Options{})
	t.Cleanup(func() { _ = b.Close(ctx) })

	b.FailPublishes(2, nil)
	for i := range 2 {
		if err := b.Publish(ctx, "t", brokers.NewMessage([]byte("x"))); !errors.Is(err, brokers.ErrUnavailable) {
			t.Fatalf("publish %d: got %v, want ErrUnavailable", i, err)
		}
	}
	if err := b.Publish(ctx, "t", brokers.NewMessage([]byte("ok"))); err != nil {
		t.Fatalf("third publish: %v", err)
	}
	if n := b.Pending("t", ""); n != 0 {
		t.Fatalf("no group yet, pending %d", n)
	}

	b.SetDown(errors.New("maintenance"))
	if err := b.Health(ctx); !errors.Is(err, brokers.ErrUnavailable) {
		t.Fatalf("health while down: %v", err)
	}
	if err := b.Publish(ctx, "t", brokers.NewMessage(nil)); !errors.Is(err, brokers.ErrUnavailable) {
		t.Fatalf("publish while down: %v", err)
	}
	b.SetDown(nil)
	if err := b.Health(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}

	const delay = 150 * time.Millisecond
	b.DelayDeliveries(delay)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Timed from before Subscribe: the delay starts in Subscribe's goroutine.
	start := time.Now()
	ch, err := b.Subscribe(sctx, "t", brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := <-ch
	if string(d.Message.Payload) != "ok" {
		t.Fatalf("only the successful publish must be stored, got %q", d.Message.Payload)
	}
	if el := time.Since(start); el < delay {
		t.Fatalf("delivery not delayed: %v", el)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStartPositions(t *testing.T) {
	ctx := context.Background()
	b := New(Options{})
	t.Cleanup(func() { _ = b.Close(ctx) })
	if err := b.Publish(ctx, "t", brokers.NewMessage([]byte("old"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	if err := b.Publish(ctx, "t", brokers.NewMessage([]byte("new"))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		opts brokers.SubscribeOptions
		want []string
	}{
		{brokers.SubscribeOptions{Group: "e"}, []string{"old", "new"}},
		{brokers.SubscribeOptions{Group: "l", Start: brokers.StartLatest}, nil},
		{brokers.SubscribeOptions{Group: "ts", Start: brokers.StartAtTime, StartTime: mid}, []string{"new"}},
	}
	for _, tt := range tests {
		t.Run(tt.opts.Group, func(t *testing.T) {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, err := b.Subscribe(sctx, "t", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				select {
				case d := <-ch:
					got = append(got, string(d.Message.Payload))
					_ = d.Ack(ctx)
					continue
				case <-time.After(100 * time.Millisecond):
				}
				break
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("group %s got %v, want %v", tt.opts.Group, got, tt.want)
			}
		})
	}
}
