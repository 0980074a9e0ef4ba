package replication_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/replication"
)

func open(t *testing.T, dir string) *filelog.Log {
	t.Helper()
	l, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func types(t *testing.T, s eventlog.Store, stream string) string {
	evs, err := s.ReadStream(context.Background(), stream, 1, eventlog.Forward, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return fmt.Sprint(out)
}

// TestRunReplicatesInOrderAndResumes follows a source store, is stopped,
// and resumes from its checkpoint: the replica ends with the same events
// (ids, times, data), each once, in order, and zero lag.
func TestRunReplicatesInOrderAndResumes(t *testing.T) {
	ctx := context.Background()
	src := open(t, t.TempDir())
	defer src.Close()
	replicaDir := t.TempDir()
	appendN := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := src.Append(ctx, fmt.Sprintf("acct-%d", i%3), eventlog.Any, eventlog.NewEvent(fmt.Sprintf("E%d", i), []byte{byte(i)})); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(30)
	for round := 0; round < 2; round++ {
		dst := open(t, replicaDir)
		r := &replication.Replicator{Source: "eu", Target: dst}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { r.Run(rctx, src); close(done) }()
		if round == 1 {
			appendN(15) // live, while running
		}
		want := int64(30 + 15*round)
		for deadline := time.Now().Add(20 * time.Second); r.Stats().Position < want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("replicated up to %d, want %d", r.Stats().Position, want)
			}
		}
		stop()
		<-done
		st := r.Stats()
		if st.Conflicts != 0 || (round == 0 && st.Applied != 30) {
			t.Fatalf("round %d stats %+v", round, st)
		}
		if st.LagEvents != 0 {
			t.Fatalf("lag %d events after catching up", st.LagEvents)
		}
		if round == 1 && (st.Applied != 15 || st.Skipped != 0) {
			t.Fatalf("resumed replicator applied %d (skipped %d), want 15 new", st.Applied, st.Skipped)
		}
		for s := 0; s < 3; s++ {
			stream := fmt.Sprintf("acct-%d", s)
			a, _ := src.ReadStream(ctx, stream, 1, eventlog.Forward, 100)
			b, _ := dst.ReadStream(ctx, stream, 1, eventlog.Forward, 100)
			if len(a) != len(b) {
				t.Fatalf("%s: source %d events, replica %d", stream, len(a), len(b))
			}
			for i := range a {
				if a[i].ID != b[i].ID || !a[i].Time.Equal(b[i].Time) || a[i].Type != b[i].Type || string(a[i].Data) != string(b[i].Data) || b[i].Metadata[replication.MetaSource] != "eu" {
					t.Fatalf("%s[%d]: source %+v, replica %+v", stream, i, a[i], b[i])
				}
			}
		}
		dst.Close()
	}
}

func TestConflictStrategies(t *testing.T) {
	ctx := context.Background()
	merge := replication.Merge(func(_ context.Context, c replication.Conflict) ([]eventlog.Event, error) {
		return []eventlog.Event{eventlog.NewEvent(fmt.Sprintf("Merged(%s+%d local)", c.Remote.Type, len(c.Local)), nil)}, nil
	})
	for _, tc := range []struct {
		name        string
		strategy    replication.Strategy
		remoteFirst bool // the remote A2 is older than the local write
		want        string
		conflicts   int64
	}{
		// A2, A3 and the repeat of A2 all meet the local write.
		{"reject and report", replication.RejectAndReport(), false, "[A1 L1]", 3},
		{"last writer wins: remote newer", replication.LastWriterWins(), false, "[A1 L1 A2 A3]", 1},
		// A2 loses to the newer L1; A3 is newer than L1 and wins.
		{"last writer wins: local newer", replication.LastWriterWins(), true, "[A1 L1 A3]", 2},
		{"user merge", merge, false, "[A1 L1 Merged(A2+1 local) A3]", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := open(t, t.TempDir()), open(t, t.TempDir())
			defer src.Close()
			defer dst.Close()
			var reported []replication.Decision
			r := &replication.Replicator{Source: "us", Target: dst, Strategy: tc.strategy,
				OnConflict: func(_ replication.Conflict, d replication.Decision) { reported = append(reported, d) }}
			app := func(s eventlog.Store, typ string) eventlog.Event {
				res, err := s.Append(ctx, "cart-1", eventlog.Any, eventlog.NewEvent(typ, nil))
				if err != nil {
					t.Fatal(err)
				}
				e, _ := s.ReadAll(ctx, res.FirstPosition, 1)
				return e[0]
			}
			if err := r.Apply(ctx, app(src, "A1")); err != nil {
				t.Fatal(err)
			}
			var a2 eventlog.Event
			if tc.remoteFirst {
				a2 = app(src, "A2")
				time.Sleep(2 * time.Millisecond)
				app(dst, "L1")
			} else {
				app(dst, "L1")
				time.Sleep(2 * time.Millisecond)
				a2 = app(src, "A2")
			}
			if err := r.Apply(ctx, a2); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
			if err := r.Apply(ctx, app(src, "A3")); err != nil {
				t.Fatal(err)
			}
			if err := r.Apply(ctx, a2); err != nil { // a repeat is harmless
				t.Fatal(err)
			}
			if got := types(t, dst, "cart-1"); got != tc.want {
				t.Fatalf("replica = %s, want %s", got, tc.want)
			}
			if st := r.Stats(); st.Conflicts != tc.conflicts || int64(len(reported)) != tc.conflicts {
				t.Fatalf("conflicts = %d (reported %d), want %d", st.Conflicts, len(reported), tc.conflicts)
			}
		})
	}
}
