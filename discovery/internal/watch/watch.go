package watch

import (
	"sync"

	"github.com/wasmesh/wasmesh/discovery"
)

// Sender is a single-producer channel of complete instance sets that keeps
// only the newest unread Update: a slow consumer skips intermediate sets
// and always ends with the latest one. It also drops an Update identical
// to the last one sent (a backend returning without change).
type Sender struct {
	ch chan discovery.Update

	mu      sync.Mutex
	closed  bool
	sent    bool
	last    []discovery.Instance
	lastErr bool
}

// NewSender returns an open Sender.
func NewSender() *Sender {
	return &Sender{ch: make(chan discovery.Update, 1)}
}

// C is the channel handed to the caller of Watch.
func (s *Sender) C() <-chan discovery.Update { return s.ch }

// Send offers u. It reports whether u was queued (false when it repeats
// the last Update or the Sender is closed). It never blocks.
func (s *Sender) Send(u discovery.Update) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	hasErr := u.Err != nil
	if s.sent && hasErr == s.lastErr && discovery.EqualSets(u.Instances, s.last) {
		return false
	}
	s.sent, s.last, s.lastErr = true, u.Instances, hasErr
	select { // drop the unread older set, if any
	case <-s.ch:
	default:
	}
	s.ch <- u // cannot block: capacity 1, emptied above, one producer at a time (mu)
	return true
}

// Last returns the last set sent (nil before the first Send).
func (s *Sender) Last() []discovery.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Close closes the channel; later Sends are ignored. Safe to call twice.
func (s *Sender) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}
