package memory

import (
	"context"
	"errors"
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
	ch, err := b.Subscribe(sctx, "t", brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
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
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	if err := b.Publish(ctx, "t", brokers.NewMessage([]byte("new"))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		opts brokers.SubscribeOptions
		want int
	}{
		{brokers.SubscribeOptions{Group: "e"}, 2},
		{brokers.SubscribeOptions{Group: "l", Start: brokers.StartLatest}, 0},
		{brokers.SubscribeOptions{Group: "ts", Start: brokers.StartAtTime, StartTime: mid}, 1},
	}
	for _, tt := range tests {
		sctx, cancel := context.WithCancel(ctx)
		if _, err := b.Subscribe(sctx, "t", tt.opts); err != nil {
			t.Fatal(err)
		}
		if got := b.Pending("t", tt.opts.Group); got != tt.want {
			// Pending counts what the group has not been handed yet; the
			// subscription goroutine may already hold one, so accept want-1.
			if got != tt.want-1 {
				t.Errorf("group %s: pending %d, want %d", tt.opts.Group, got, tt.want)
			}
		}
		cancel()
	}
}
