package memregistry

import (
	"context"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

// watcher is one open Watch. The Backend queues complete sets with the
// time each is due; run delivers them in order to a one-slot channel that
// keeps only the newest unread set, and closes it when the watch ends.
type watcher struct {
	service string
	filter  discovery.Filter
	ch      chan discovery.Update
	wake    chan struct{}
	stop    chan struct{}

	mu       sync.Mutex
	queue    []pending
	stopOnce sync.Once

	// Owned by run.
	sent    bool
	last    []discovery.Instance
	lastErr bool
}

type pending struct {
	u   discovery.Update
	due time.Time
}

func (w *watcher) enqueue(u discovery.Update, due time.Time) {
	w.mu.Lock()
	w.queue = append(w.queue, pending{u: u, due: due})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// drop ends the watch as a lost stream would.
func (w *watcher) drop() { w.stopOnce.Do(func() { close(w.stop) }) }

func (w *watcher) run(ctx context.Context, regDone <-chan struct{}) {
	defer close(w.ch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-regDone:
			return
		case <-w.stop:
			return
		case <-w.wake:
		case <-timer.C:
		}
		now := time.Now()
		w.mu.Lock()
		var ready []discovery.Update
		for len(w.queue) > 0 && !w.queue[0].due.After(now) {
			ready = append(ready, w.queue[0].u)
			w.queue = w.queue[1:]
		}
		var next time.Duration
		if len(w.queue) > 0 {
			next = w.queue[0].due.Sub(now)
		}
		w.mu.Unlock()
		for _, u := range ready {
			w.send(u)
		}
		if next > 0 {
			timer.Reset(next)
		}
	}
}

// send offers u unless it repeats the last Update, replacing an unread
// older one. It never blocks: run is the only sender.
func (w *watcher) send(u discovery.Update) {
	hasErr := u.Err != nil
	if w.sent && hasErr == w.lastErr && discovery.EqualSets(u.Instances, w.last) {
		return
	}
	w.sent, w.last, w.lastErr = true, u.Instances, hasErr
	select {
	case <-w.ch:
	default:
	}
	w.ch <- u
}
