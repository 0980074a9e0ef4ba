package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/internal/prep"
	"github.com/wasmesh/wasmesh/eventlog/internal/subscribe"
)

// Data is the contents of an in-memory store. Several Store handles may
// share one Data, which is how a test "closes and reopens" the store.
type Data struct {
	mu          sync.RWMutex
	events      []eventlog.Event
	streams     map[string][]int64
	ids         map[uuid.UUID]int64
	checkpoints map[string]int64
	snapshots   map[string]eventlog.Snapshot
	notify      chan struct{}
}

// NewData returns empty contents.
func NewData() *Data {
	return &Data{
		streams: map[string][]int64{}, ids: map[uuid.UUID]int64{},
		checkpoints: map[string]int64{}, snapshots: map[string]eventlog.Snapshot{},
		notify: make(chan struct{}),
	}
}

// Store is a handle on Data.
type Store struct {
	d      *Data
	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

var _ eventlog.Store = (*Store)(nil)

// New returns a store over fresh contents.
func New() *Store { return Open(NewData()) }

// Open returns a new handle on d.
func Open(d *Data) *Store { return &Store{d: d, done: make(chan struct{})} }

func (s *Store) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventlog.ErrClosed
	}
	return nil
}

// Close ends this handle (the data stays).
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	return nil
}

// Append stores events; see eventlog.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, events ...eventlog.Event) (eventlog.AppendResult, error) {
	evs, err := prep.Events(ctx, stream, events)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := s.check(); err != nil {
		return eventlog.AppendResult{}, err
	}
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if pos, ok := d.ids[evs[0].ID]; ok {
		first := d.events[pos-1]
		for i, e := range evs {
			p, ok := d.ids[e.ID]
			if !ok || p != pos+int64(i) || d.events[p-1].Stream != stream || d.events[p-1].Version != first.Version+int64(i) {
				return eventlog.AppendResult{}, fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, evs[0].ID, stream)
			}
		}
		n := int64(len(evs))
		return eventlog.AppendResult{FirstVersion: first.Version, LastVersion: first.Version + n - 1, FirstPosition: pos, LastPosition: pos + n - 1}, nil
	}
	for _, e := range evs {
		if _, ok := d.ids[e.ID]; ok {
			return eventlog.AppendResult{}, fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, e.ID, stream)
		}
	}
	cur := int64(len(d.streams[stream]))
	if !expected.Check(cur) {
		return eventlog.AppendResult{}, &eventlog.ConcurrencyError{Stream: stream, Expected: expected, Actual: cur}
	}
	res := eventlog.AppendResult{FirstVersion: cur + 1, FirstPosition: int64(len(d.events)) + 1}
	for i, e := range evs {
		e.Version, e.Position = cur+1+int64(i), int64(len(d.events))+1
		d.events = append(d.events, clone(e))
		d.streams[stream] = append(d.streams[stream], e.Position)
		d.ids[e.ID] = e.Position
		res.LastVersion, res.LastPosition = e.Version, e.Position
	}
	close(d.notify)
	d.notify = make(chan struct{})
	return res, nil
}

// ReadStream reads a stream; see eventlog.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, dir eventlog.Direction, limit int) ([]eventlog.Event, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	d := s.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	ps := d.streams[stream]
	n := int64(len(ps))
	var out []eventlog.Event
	switch dir {
	case eventlog.Forward:
		for v := max(from, 1); v <= n && len(out) < limit; v++ {
			out = append(out, clone(d.events[ps[v-1]-1]))
		}
	case eventlog.Backward:
		for v := min(from, n); v >= 1 && len(out) < limit; v-- {
			out = append(out, clone(d.events[ps[v-1]-1]))
		}
	default:
		return nil, fmt.Errorf("%w: direction %d", eventlog.ErrInvalid, dir)
	}
	return out, nil
}

// ReadAll reads in global order; see eventlog.Store.
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]eventlog.Event, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	d := s.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	from = max(from, 1)
	head := int64(len(d.events))
	if from > head || limit <= 0 {
		return nil, nil
	}
	end := min(head, from+int64(limit)-1)
	out := make([]eventlog.Event, 0, end-from+1)
	for _, e := range d.events[from-1 : end] {
		out = append(out, clone(e))
	}
	return out, nil
}

// clone copies an event's payload and metadata so callers and the store
// never share memory (as with the durable backends).
func clone(e eventlog.Event) eventlog.Event {
	if e.Data != nil {
		e.Data = append([]byte(nil), e.Data...)
	}
	if e.Metadata != nil {
		md := make(map[string]string, len(e.Metadata))
		for k, v := range e.Metadata {
			md[k] = v
		}
		e.Metadata = md
	}
	return e
}

// Head returns the last position.
func (s *Store) Head(context.Context) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	return int64(len(s.d.events)), nil
}

// Subscribe runs a catch-up-then-live subscription; see eventlog.Store.
func (s *Store) Subscribe(ctx context.Context, opts eventlog.SubscribeOptions, h eventlog.Handler) error {
	return subscribe.Run(ctx, source{s}, opts, h)
}

type source struct{ *Store }

// Wait blocks until an append moves the head past after.
func (s source) Wait(ctx context.Context, after int64) error {
	s.d.mu.RLock()
	ch, head := s.d.notify, int64(len(s.d.events))
	s.d.mu.RUnlock()
	if head > after {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return eventlog.ErrClosed
	}
}

// Checkpoint returns a subscriber's checkpoint.
func (s *Store) Checkpoint(_ context.Context, name string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	return s.d.checkpoints[name], nil
}

// SaveCheckpoint stores a subscriber's checkpoint.
func (s *Store) SaveCheckpoint(_ context.Context, name string, position int64) error {
	if err := s.check(); err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.d.checkpoints[name] = position
	return nil
}

// SaveSnapshot replaces a stream's snapshot.
func (s *Store) SaveSnapshot(_ context.Context, snap eventlog.Snapshot) error {
	if err := s.check(); err != nil {
		return err
	}
	if snap.Stream == "" {
		return fmt.Errorf("%w: snapshot without stream", eventlog.ErrInvalid)
	}
	if snap.Time.IsZero() {
		snap.Time = time.Now().UTC()
	}
	snap.Data = append([]byte(nil), snap.Data...)
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.d.snapshots[snap.Stream] = snap
	return nil
}

// LoadSnapshot returns a stream's snapshot.
func (s *Store) LoadSnapshot(_ context.Context, stream string) (eventlog.Snapshot, bool, error) {
	if err := s.check(); err != nil {
		return eventlog.Snapshot{}, false, err
	}
	s.d.mu.RLock()
	defer s.d.mu.RUnlock()
	snap, ok := s.d.snapshots[stream]
	return snap, ok, nil
}
