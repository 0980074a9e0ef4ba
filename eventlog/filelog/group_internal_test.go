package filelog

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/eventlog"
)

// TestGroupCommitSharesOneFsync holds the writer between two commits (by
// holding the index lock it needs to publish the first), lets 31 more
// appends queue, and checks they are written and made durable together.
func TestGroupCommitSharesOneFsync(t *testing.T) {
	for _, tc := range []struct {
		d         Durability
		wantSyncs int64
	}{
		{SyncGroup, 2},        // at most: the first append, then the 31 others together
		{SyncEveryAppend, 32}, // one fsync each
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			l, err := Open(t.TempDir(), Options{Durability: tc.d})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.mu.Lock()
			var wg sync.WaitGroup
			for i := 0; i < 32; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := l.Append(context.Background(), "g-1", eventlog.Any, eventlog.NewEvent("E", nil)); err != nil {
						t.Error(err)
					}
				}()
				if i == 0 {
					time.Sleep(20 * time.Millisecond) // let the writer take it alone
				}
			}
			// The writer took one append and waits for the lock; the others queue.
			for deadline := time.Now().Add(10 * time.Second); len(l.reqs) < 31; {
				if time.Now().After(deadline) {
					l.mu.Unlock()
					t.Fatalf("only %d appends queued", len(l.reqs))
				}
				time.Sleep(time.Millisecond)
			}
			l.mu.Unlock()
			wg.Wait()
			st := l.Stats()
			if st.Appends != 32 || st.Syncs > tc.wantSyncs || (tc.d == SyncEveryAppend && st.Syncs != 32) {
				t.Fatalf("stats = %+v, want 32 appends in %d fsyncs", st, tc.wantSyncs)
			}
		})
	}
}
