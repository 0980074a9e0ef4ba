package storetest

import (
	"strconv"
	"testing"

	"github.com/wasmesh/wasmesh/eventlog"
)

// counter is a tiny aggregate: the sum of the event payloads.
type counter struct {
	Sum   int `json:"sum"`
	Count int `json:"count"`
}

func testLoader(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	evolve := func(c counter, e eventlog.Event) (counter, error) {
		n, err := strconv.Atoi(string(e.Data))
		c.Sum += n
		c.Count++
		return c, err
	}
	l := &eventlog.Loader[counter]{Store: s, Evolve: evolve, SnapshotEvery: 10, SchemaVersion: 1}

	// Append 25 events in batches of 3, snapshotting by policy.
	var version int64
	for i := 1; i <= 25; {
		var batch []eventlog.Event
		for j := 0; j < 3 && i <= 25; j++ {
			batch = append(batch, eventlog.NewEvent("Added", []byte(strconv.Itoa(i))))
			i++
		}
		state, v, _, err := l.Load(ctx, "cnt-1")
		if err != nil || v != version {
			t.Fatalf("Load = v%d, %v; want v%d", v, err, version)
		}
		r, err := s.Append(ctx, "cnt-1", eventlog.Exact(v), batch...)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			state, _ = evolve(state, e)
		}
		if err := l.AfterAppend(ctx, "cnt-1", state, v, r.LastVersion); err != nil {
			t.Fatal(err)
		}
		version = r.LastVersion
	}
	snap, ok, _ := s.LoadSnapshot(ctx, "cnt-1")
	if !ok || snap.Version != 21 {
		t.Fatalf("latest snapshot at %d (ok=%v), want 21 (the append 19..21 crossed 20)", snap.Version, ok)
	}
	state, v, stats, err := l.Load(ctx, "cnt-1")
	if err != nil {
		t.Fatal(err)
	}
	if state.Sum != 325 || state.Count != 25 || v != 25 {
		t.Fatalf("state = %+v v%d, want sum 325 count 25 v25", state, v)
	}
	if stats.FromSnapshot != 21 || stats.Replayed != 4 {
		t.Fatalf("load stats = %+v, want from snapshot 21 with 4 replayed", stats)
	}

	// The aggregate's shape changes: the old snapshot is ignored, the stream
	// replayed, and a snapshot of the new shape saved.
	l2 := &eventlog.Loader[counter]{Store: s, Evolve: evolve, SnapshotEvery: 10, SchemaVersion: 2}
	state, _, stats, err = l2.Load(ctx, "cnt-1")
	if err != nil || state.Sum != 325 || stats.FromSnapshot != 0 || stats.Replayed != 25 {
		t.Fatalf("load with new shape = %+v %+v %v, want full replay", state, stats, err)
	}
	snap, _, _ = s.LoadSnapshot(ctx, "cnt-1")
	if snap.SchemaVersion != 2 || snap.Version != 25 {
		t.Fatalf("snapshot after reshape = v%d schema %d, want v25 schema 2", snap.Version, snap.SchemaVersion)
	}
	// And the old code now ignores the new shape.
	_, _, stats, _ = l.Load(ctx, "cnt-1")
	if stats.FromSnapshot != 0 {
		t.Fatalf("schema 1 loader used a schema 2 snapshot")
	}
}
