package cqrs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/cqrs"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
)

// The domain: an order accepts items until it is cancelled.

type PlaceOrder struct{ ID, Customer string }
type AddItem struct {
	ID, SKU string
	Qty     int
}
type CancelOrder struct{ ID string }

func (c PlaceOrder) Validate() error {
	if c.ID == "" || c.Customer == "" {
		return errors.New("id and customer are required")
	}
	return nil
}

func (c AddItem) Validate() error {
	if c.Qty <= 0 {
		return fmt.Errorf("quantity %d must be positive", c.Qty)
	}
	return nil
}

type order struct {
	Placed, Cancelled bool
	Items             int
}

type itemAdded struct {
	SKU string
	Qty int
}

func jsonEvent(typ string, v any) eventlog.Event {
	b, _ := json.Marshal(v)
	return eventlog.NewEvent(typ, b)
}

func evolve(s order, e eventlog.Event) (order, error) {
	switch e.Type {
	case "OrderPlaced":
		s.Placed = true
	case "ItemAdded":
		var ia itemAdded
		if err := json.Unmarshal(e.Data, &ia); err != nil {
			return s, err
		}
		s.Items += ia.Qty
	case "OrderCancelled":
		s.Cancelled = true
	}
	return s, nil
}

func newOrders(store eventlog.Store) (*cqrs.CommandBus, error) {
	bus := cqrs.NewCommandBus()
	place := &cqrs.Aggregate[order, PlaceOrder]{
		Store: store, Evolve: evolve,
		Stream: func(c PlaceOrder) string { return "order-" + c.ID },
		Decide: func(c PlaceOrder, s order) ([]eventlog.Event, error) {
			if s.Placed {
				return nil, cqrs.Reject("order %s already placed", c.ID)
			}
			return []eventlog.Event{jsonEvent("OrderPlaced", c)}, nil
		},
	}
	add := &cqrs.Aggregate[order, AddItem]{
		Store: store, Evolve: evolve, SnapshotEvery: 5,
		Stream: func(c AddItem) string { return "order-" + c.ID },
		Decide: func(c AddItem, s order) ([]eventlog.Event, error) {
			switch {
			case !s.Placed:
				return nil, cqrs.Reject("order %s does not exist", c.ID)
			case s.Cancelled:
				return nil, cqrs.Reject("order %s is cancelled", c.ID)
			}
			return []eventlog.Event{jsonEvent("ItemAdded", itemAdded{c.SKU, c.Qty})}, nil
		},
	}
	cancel := &cqrs.Aggregate[order, CancelOrder]{
		Store: store, Evolve: evolve,
		Stream: func(c CancelOrder) string { return "order-" + c.ID },
		Decide: func(c CancelOrder, s order) ([]eventlog.Event, error) {
			if s.Cancelled {
				return nil, nil // idempotent: already done
			}
			return []eventlog.Event{eventlog.NewEvent("OrderCancelled", nil)}, nil
		},
	}
	for _, err := range []error{
		cqrs.Handle(bus, func(ctx context.Context, c PlaceOrder) error { _, err := place.Handle(ctx, c); return err }),
		cqrs.Handle(bus, func(ctx context.Context, c AddItem) error { _, err := add.Handle(ctx, c); return err }),
		cqrs.Handle(bus, func(ctx context.Context, c CancelOrder) error { _, err := cancel.Handle(ctx, c); return err }),
	} {
		if err != nil {
			return nil, err
		}
	}
	return bus, nil
}

// summaries is a read model: items per order, and the order's position so
// a repeated delivery is ignored.
type summaries struct {
	mu   sync.Mutex
	rows map[string]summary
}

type summary struct {
	Items     int
	Cancelled bool
	Version   int64
}

type OrderSummary struct{ ID string }

func (m *summaries) apply(_ context.Context, e eventlog.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rows[e.Stream]
	if e.Version <= r.Version {
		return nil // seen already (at-least-once delivery)
	}
	s, err := evolve(order{Items: r.Items, Cancelled: r.Cancelled}, e)
	if err != nil {
		return err
	}
	m.rows[e.Stream] = summary{Items: s.Items, Cancelled: s.Cancelled, Version: e.Version}
	return nil
}

func openStore(t *testing.T) eventlog.Store {
	l, err := filelog.Open(t.TempDir(), filelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestCommandsAndQueries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := openStore(t)
	bus, err := newOrders(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := cqrs.Handle(bus, func(context.Context, PlaceOrder) error { return nil }); err == nil {
		t.Fatal("a second handler for PlaceOrder was accepted")
	}

	model := &summaries{rows: map[string]summary{}}
	proj := cqrs.NewProjector(store, cqrs.Projection{
		Name: "order-summaries", Filter: eventlog.CategoryFilter("order"), Apply: model.apply,
		Reset: func(context.Context) error {
			model.mu.Lock()
			model.rows = map[string]summary{}
			model.mu.Unlock()
			return nil
		},
	})
	queries := cqrs.NewQueryBus()
	err = cqrs.HandleQuery(queries, func(_ context.Context, q OrderSummary) (summary, error) {
		model.mu.Lock()
		defer model.mu.Unlock()
		return model.rows["order-"+q.ID], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proj.Run(runCtx) }()

	for _, tc := range []struct {
		name string
		cmd  any
		want error
	}{
		{"place", PlaceOrder{ID: "1", Customer: "ada"}, nil},
		{"place again", PlaceOrder{ID: "1", Customer: "ada"}, cqrs.ErrRejected},
		{"invalid place", PlaceOrder{ID: "2"}, cqrs.ErrInvalid},
		{"add", AddItem{ID: "1", SKU: "a", Qty: 2}, nil},
		{"add zero", AddItem{ID: "1", SKU: "a", Qty: 0}, cqrs.ErrInvalid},
		{"add to missing", AddItem{ID: "9", SKU: "a", Qty: 1}, cqrs.ErrRejected},
		{"unknown command", struct{ X int }{1}, cqrs.ErrNoHandler},
		{"add more", AddItem{ID: "1", SKU: "b", Qty: 3}, nil},
		{"cancel", CancelOrder{ID: "1"}, nil},
		{"cancel again is a no-op", CancelOrder{ID: "1"}, nil},
		{"add after cancel", AddItem{ID: "1", SKU: "c", Qty: 1}, cqrs.ErrRejected},
	} {
		err := bus.Dispatch(ctx, tc.cmd)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	head, _ := store.Head(ctx)
	if head != 4 {
		t.Fatalf("store has %d events, want 4 (rejected commands write nothing)", head)
	}
	if err := proj.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	got, err := cqrs.Ask[summary](ctx, queries, OrderSummary{ID: "1"})
	if err != nil || got.Items != 5 || !got.Cancelled {
		t.Fatalf("summary = %+v, %v; want 5 items, cancelled", got, err)
	}
	if _, err := cqrs.Ask[summary](ctx, queries, struct{}{}); !errors.Is(err, cqrs.ErrNoHandler) {
		t.Fatalf("unknown query: %v", err)
	}

	// Rebuild from zero gives the same read model.
	stop()
	<-done
	if err := proj.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(model.rows); n != 0 {
		t.Fatalf("reset left %d rows", n)
	}
	runCtx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- proj.Run(runCtx) }()
	if err := proj.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	if got, _ := cqrs.Ask[summary](ctx, queries, OrderSummary{ID: "1"}); got.Items != 5 || !got.Cancelled || got.Version != 4 {
		t.Fatalf("rebuilt summary = %+v", got)
	}
}

// TestAggregateRetriesConflicts: concurrent commands on one aggregate all
// succeed by re-deciding on fresh state; none is lost.
func TestAggregateRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	bus, _ := newOrders(store)
	if err := bus.Dispatch(ctx, PlaceOrder{ID: "c", Customer: "bo"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Retries are bounded; a lost race after them is a conflict error,
			// which the caller may retry: do so here until it lands.
			for {
				err := bus.Dispatch(ctx, AddItem{ID: "c", SKU: "x", Qty: 1})
				if err == nil {
					return
				}
				if !errors.Is(err, eventlog.ErrConcurrency) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	agg := &cqrs.Aggregate[order, AddItem]{Store: store, Evolve: evolve}
	s, v, err := agg.Load(ctx, "order-c")
	if err != nil || s.Items != 8 || v != 9 {
		t.Fatalf("state = %+v v%d %v; want 8 items at v9", s, v, err)
	}
	if snap, ok, _ := store.LoadSnapshot(ctx, "order-c"); !ok || snap.Version < 5 {
		t.Fatalf("no snapshot after 9 events with SnapshotEvery 5: %+v %v", snap, ok)
	}
}
