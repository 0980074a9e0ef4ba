package eventlog_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/memstore"
)

// Append with an expected version, meet a conflict, read back, and follow
// a category with a named (checkpointed) subscription.
func Example() {
	ctx := context.Background()
	store := memstore.New() // filelog.Open or postgres.Open in production
	defer store.Close()

	ctx = eventlog.WithCorrelationID(ctx, "req-1")
	_, _ = store.Append(ctx, "order-1", eventlog.NoStream, eventlog.NewEvent("OrderPlaced", []byte(`{"sku":"A"}`)))
	_, err := store.Append(ctx, "order-1", eventlog.NoStream, eventlog.NewEvent("OrderPlaced", nil))
	var conflict *eventlog.ConcurrencyError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: stream is at version", conflict.Actual)
	}
	_, _ = store.Append(ctx, "order-1", eventlog.Exact(1), eventlog.NewEvent("OrderPaid", nil))

	evs, _ := store.ReadStream(ctx, "order-1", eventlog.StreamEnd, eventlog.Backward, 10)
	for _, e := range evs {
		fmt.Println(e.Version, e.Type, e.CorrelationID)
	}

	sub, cancel := context.WithCancel(ctx)
	_ = store.Subscribe(sub, eventlog.SubscribeOptions{Name: "mailer", Filter: eventlog.CategoryFilter("order")},
		func(_ context.Context, e eventlog.Event) error {
			fmt.Println("delivered", e.Position, e.Type)
			if e.Position == 2 {
				cancel()
			}
			return nil
		})
	cp, _ := store.Checkpoint(ctx, "mailer")
	fmt.Println("checkpoint", cp)
	// Output:
	// conflict: stream is at version 1
	// 2 OrderPaid req-1
	// 1 OrderPlaced req-1
	// delivered 1 OrderPlaced
	// delivered 2 OrderPaid
	// checkpoint 2
}
