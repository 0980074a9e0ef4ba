package cqrs

import (
	"context"
	"fmt"
	"sync"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Projection describes a read model fed by events.
type Projection struct {
	// Name is the subscription (and checkpoint) name.
	Name string
	// Filter selects the events it needs.
	Filter eventlog.Filter
	// Apply updates the read model. Delivery is at least once, so Apply
	// must tolerate seeing an event again (keep the last applied position
	// per row, or upsert).
	Apply func(ctx context.Context, e eventlog.Event) error
	// Reset empties the read model before a rebuild.
	Reset func(ctx context.Context) error
}

// Projector runs a Projection from a store and tracks how far it got, so a
// query can wait for the read model to include a write.
type Projector struct {
	store eventlog.Store
	p     Projection

	mu      sync.Mutex
	pos     int64
	changed chan struct{}
}

// NewProjector binds a projection to a store.
func NewProjector(store eventlog.Store, p Projection) *Projector {
	return &Projector{store: store, p: p, changed: make(chan struct{})}
}

// Run feeds the read model until ctx ends, resuming from the checkpoint.
func (pr *Projector) Run(ctx context.Context) error {
	if cp, err := pr.store.Checkpoint(ctx, pr.p.Name); err == nil {
		pr.advance(cp)
	}
	opts := eventlog.SubscribeOptions{Name: pr.p.Name, Filter: pr.p.Filter}
	err := pr.store.Subscribe(ctx, opts, func(ctx context.Context, e eventlog.Event) error {
		if err := pr.p.Apply(ctx, e); err != nil {
			return fmt.Errorf("projection %s at %d: %w", pr.p.Name, e.Position, err)
		}
		pr.advance(e.Position)
		return nil
	})
	return err
}

// Rebuild empties the read model and resets the checkpoint; the next Run
// replays every event from the start. Call it while the projector is not
// running.
func (pr *Projector) Rebuild(ctx context.Context) error {
	if pr.p.Reset != nil {
		if err := pr.p.Reset(ctx); err != nil {
			return fmt.Errorf("projection %s: reset: %w", pr.p.Name, err)
		}
	}
	if err := pr.store.SaveCheckpoint(ctx, pr.p.Name, 0); err != nil {
		return err
	}
	pr.mu.Lock()
	pr.pos = 0
	pr.mu.Unlock()
	return nil
}

// Position is the global position the read model has caught up with (for
// filtered projections, events it skipped count as seen only once a later
// matching event arrives or the checkpoint is saved).
func (pr *Projector) Position() int64 {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.pos
}

// WaitFor blocks until the read model has applied the event at position
// (typically AppendResult.LastPosition of the write just made).
func (pr *Projector) WaitFor(ctx context.Context, position int64) error {
	for {
		pr.mu.Lock()
		pos, ch := pr.pos, pr.changed
		pr.mu.Unlock()
		if pos >= position {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("projection %s at %d waiting for %d: %w", pr.p.Name, pos, position, ctx.Err())
		}
	}
}

func (pr *Projector) advance(pos int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pos > pr.pos {
		pr.pos = pos
		close(pr.changed)
		pr.changed = make(chan struct{})
	}
}
