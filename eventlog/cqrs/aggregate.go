package cqrs

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Aggregate runs commands of type C against state S kept as a stream.
// Decide and Evolve are pure; Aggregate does the loading, the optimistic
// append and the retries.
type Aggregate[S, C any] struct {
	// Store holds the aggregate's streams.
	Store eventlog.Store
	// Stream names the stream a command addresses ("order-" + id).
	Stream func(cmd C) string
	// Initial is the state of a new stream; nil means S's zero value.
	Initial func() S
	// Decide returns the events a command produces, or an error
	// (Reject for a business refusal). No events means nothing to do.
	Decide func(cmd C, state S) ([]eventlog.Event, error)
	// Evolve applies an event to the state.
	Evolve func(state S, e eventlog.Event) (S, error)
	// SnapshotEvery and SchemaVersion configure snapshots (see
	// eventlog.Loader); 0 disables them.
	SnapshotEvery int64
	SchemaVersion int
	// Retries is how many times a conflicting append is re-decided on
	// fresh state (default 3).
	Retries int
}

func (a *Aggregate[S, C]) loader() *eventlog.Loader[S] {
	return &eventlog.Loader[S]{
		Store: a.Store, Initial: a.Initial, Evolve: a.Evolve,
		SnapshotEvery: a.SnapshotEvery, SchemaVersion: a.SchemaVersion,
	}
}

// Handle loads the state, decides, and appends expecting the loaded
// version; on a conflict it reloads and decides again.
func (a *Aggregate[S, C]) Handle(ctx context.Context, cmd C) (eventlog.AppendResult, error) {
	stream := a.Stream(cmd)
	l := a.loader()
	retries := a.Retries
	if retries <= 0 {
		retries = 3
	}
	for attempt := 0; ; attempt++ {
		state, version, _, err := l.Load(ctx, stream)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		events, err := a.Decide(cmd, state)
		if err != nil || len(events) == 0 {
			return eventlog.AppendResult{}, err
		}
		res, err := a.Store.Append(ctx, stream, eventlog.Exact(version), events...)
		if errors.Is(err, eventlog.ErrConcurrency) && attempt < retries {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("cqrs: append to %s: %w", stream, err)
		}
		if a.SnapshotEvery > 0 {
			for i := range events {
				events[i].Stream, events[i].Version = stream, res.FirstVersion+int64(i)
				if state, err = a.Evolve(state, events[i]); err != nil {
					return res, fmt.Errorf("cqrs: evolve %s: %w", stream, err)
				}
			}
			if err := l.AfterAppend(ctx, stream, state, version, res.LastVersion); err != nil {
				return res, err
			}
		}
		return res, nil
	}
}

// Load returns the aggregate's current state and version.
func (a *Aggregate[S, C]) Load(ctx context.Context, stream string) (S, int64, error) {
	s, v, _, err := a.loader().Load(ctx, stream)
	return s, v, err
}
