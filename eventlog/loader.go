package eventlog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Loader folds a stream into an aggregate's state S, starting from the latest
// snapshot when there is one of the current shape, and saves snapshots by a
// simple policy (every N events). It is how long-lived aggregates stay cheap
// to load without the domain code knowing about snapshots.
type Loader[S any] struct {
	// Store holds the events and the snapshots.
	Store Store
	// Initial returns the state of an empty stream; nil means S's zero value.
	Initial func() S
	// Evolve applies one event to the state.
	Evolve func(state S, e Event) (S, error)
	// SnapshotEvery saves a snapshot each time a stream's version crosses a
	// multiple of it; 0 disables snapshots.
	SnapshotEvery int64
	// SchemaVersion is the current shape of S. A stored snapshot of another
	// shape is ignored (the stream is replayed) and replaced. Zero means 1.
	SchemaVersion int
	// Encode and Decode convert state to snapshot bytes; nil means JSON.
	Encode func(S) ([]byte, error)
	Decode func([]byte) (S, error)
}

// LoadStats says how a Load was served, for metrics and tests.
type LoadStats struct {
	// FromSnapshot is the snapshot version used (0 if none).
	FromSnapshot int64
	// Replayed is how many events were applied after it.
	Replayed int
}

func (l *Loader[S]) schema() int {
	if l.SchemaVersion == 0 {
		return 1
	}
	return l.SchemaVersion
}

func (l *Loader[S]) initial() S {
	if l.Initial != nil {
		return l.Initial()
	}
	var zero S
	return zero
}

// Load returns the state of stream and its version (0 for an empty stream).
func (l *Loader[S]) Load(ctx context.Context, stream string) (S, int64, LoadStats, error) {
	state := l.initial()
	var version int64
	var stats LoadStats
	if l.SnapshotEvery > 0 {
		snap, ok, err := l.Store.LoadSnapshot(ctx, stream)
		if err != nil {
			return state, 0, stats, fmt.Errorf("load snapshot of %q: %w", stream, err)
		}
		if ok && snap.SchemaVersion == l.schema() {
			s, err := l.decode(snap.Data)
			if err != nil {
				return state, 0, stats, fmt.Errorf("decode snapshot of %q at %d: %w", stream, snap.Version, err)
			}
			state, version, stats.FromSnapshot = s, snap.Version, snap.Version
		}
	}
	for {
		page, err := l.Store.ReadStream(ctx, stream, version+1, Forward, 512)
		if err != nil {
			return state, 0, stats, fmt.Errorf("read %q from %d: %w", stream, version+1, err)
		}
		for _, e := range page {
			if state, err = l.Evolve(state, e); err != nil {
				return state, 0, stats, fmt.Errorf("evolve %q with %s v%d: %w", stream, e.Type, e.Version, err)
			}
			version = e.Version
			stats.Replayed++
		}
		if len(page) < 512 {
			break
		}
	}
	// A long replay (first load, or the snapshot's shape changed) earns a
	// fresh snapshot.
	if l.SnapshotEvery > 0 && int64(stats.Replayed) >= l.SnapshotEvery {
		if err := l.save(ctx, stream, state, version); err != nil {
			return state, version, stats, err
		}
	}
	return state, version, stats, nil
}

// AfterAppend saves a snapshot of state (at version after) when the append
// that moved the stream from version before to after crossed a multiple of
// SnapshotEvery.
func (l *Loader[S]) AfterAppend(ctx context.Context, stream string, state S, before, after int64) error {
	if l.SnapshotEvery <= 0 || after/l.SnapshotEvery == before/l.SnapshotEvery {
		return nil
	}
	return l.save(ctx, stream, state, after)
}

func (l *Loader[S]) save(ctx context.Context, stream string, state S, version int64) error {
	enc := l.Encode
	if enc == nil {
		enc = func(s S) ([]byte, error) { return json.Marshal(s) }
	}
	data, err := enc(state)
	if err != nil {
		return fmt.Errorf("encode snapshot of %q: %w", stream, err)
	}
	snap := Snapshot{Stream: stream, Version: version, SchemaVersion: l.schema(), Time: time.Now().UTC(), Data: data}
	if err := l.Store.SaveSnapshot(ctx, snap); err != nil {
		return fmt.Errorf("save snapshot of %q at %d: %w", stream, version, err)
	}
	return nil
}

func (l *Loader[S]) decode(b []byte) (S, error) {
	if l.Decode != nil {
		return l.Decode(b)
	}
	var s S
	err := json.Unmarshal(b, &s)
	return s, err
}
