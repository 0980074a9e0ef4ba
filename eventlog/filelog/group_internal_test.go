package filelog

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/eventlog"
)

// TestGroupCommitSharesOneFsync holds the writer at its first publish (by
// holding the index lock it needs), lets the other appends queue, and checks
// that everything queued then is written and made durable together.
func TestGroupCommitSharesOneFsync(t *testing.T) {
	for _, d := range []Durability{SyncGroup, SyncEveryAppend} {
		t.Run(d.String(), func(t *testing.T) {
			l, err := Open(t.TempDir(), Options{Durability: d})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.mu.Lock()
			var wg sync.WaitGroup
			var started atomic.Int32
			for i := 0; i < 32; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					started.Add(1)
					if _, err := l.Append(context.Background(), "g-1", eventlog.Any, eventlog.NewEvent("E", nil)); err != nil {
						t.Error(err)
					}
				}()
			}
			// Wait until every append is submitted and the queue is still.
			queued := -1
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				if n := len(l.reqs); started.Load() == 32 && n == queued {
					break
				} else {
					queued = n
				}
			}
			l.mu.Unlock()
			wg.Wait()
			st := l.Stats()
			if st.Appends != 32 {
				t.Fatalf("stats = %+v, want 32 appends", st)
			}
			if d == SyncEveryAppend {
				if st.Syncs != 32 {
					t.Fatalf("always: %d fsyncs for 32 appends, want 32", st.Syncs)
				}
				return
			}
			// Before blocking at its first publish the writer can start at
			// most maxSyncs commits; everything else then goes in one.
			if st.Commits > int64(maxSyncs)+1 || st.Syncs > st.Commits {
				t.Fatalf("group: %d commits and %d fsyncs for 32 appends; want at most %d", st.Commits, st.Syncs, maxSyncs+1)
			}
			t.Logf("group: 32 appends in %d commits, %d fsyncs", st.Commits, st.Syncs)
		})
	}
}
