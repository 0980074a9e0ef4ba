package brokers_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
	_ "github.com/wasmesh/wasmesh/brokers/memory" // registers the "memory" type
	"github.com/wasmesh/wasmesh/brokers/middleware"
)

// Publish a CloudEvent-shaped message and handle it with middleware: a
// first failure is retried in process, and the handler sees the attempt.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := brokers.Open(ctx, brokers.Config{Name: "local", Type: "memory"}, brokers.Env{})
	if err != nil {
		panic(err)
	}
	defer b.Close(context.Background())

	msg := brokers.NewMessage([]byte(`{"order":42}`))
	msg.Key, msg.Type, msg.Source = "customer-7", "order.created", "/orders"
	if err := b.Publish(ctx, "orders", msg); err != nil {
		panic(err)
	}

	done := make(chan struct{})
	tries := 0
	h := brokers.Chain(
		middleware.Recover(nil),
		middleware.Retry(middleware.RetryOptions{MaxAttempts: 3, Base: time.Millisecond}),
	)(func(_ context.Context, d *brokers.Delivery) error {
		tries++
		if tries == 1 {
			return errors.New("database busy")
		}
		fmt.Printf("%s %s from %s, try %d\n", d.Message.Type, d.Message.Payload, d.Message.Source, tries)
		close(done)
		return nil
	})
	sctx, stop := context.WithCancel(ctx)
	go func() { <-done; stop() }()
	_ = brokers.Serve(sctx, b, "orders", brokers.SubscribeOptions{Group: "billing"}, h, brokers.ServeOptions{})
	// Output: order.created {"order":42} from /orders, try 2
}
