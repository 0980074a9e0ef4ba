package filelog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog/internal/record"
	"github.com/wasmesh/wasmesh/eventlog/internal/subscribe"
)

// Log is an embedded event store in one directory. It is safe for concurrent
// use; only one process may open a directory at a time (a lock file enforces
// it).
type Log struct {
	dir  string
	opts Options
	lock *os.File

	// mu guards the index below. The writer goroutine is its only mutator,
	// so the writer reads it without the lock.
	mu      sync.RWMutex
	segs    []*segment
	locs    []loc               // by position-1
	streams map[string][]int64  // stream → positions, by version-1
	ids     map[uuid.UUID]int64 // event id → position
	notify  chan struct{}       // closed and replaced on every commit
	failed  error               // set when a write or fsync failed

	reqs       chan *appendReq
	closeMu    sync.RWMutex
	closed     bool
	closing    chan struct{}
	inflight   sync.WaitGroup
	writerDone chan struct{}

	meta *metaStore

	stats struct {
		appends, events, commits, syncs, bytes atomic.Int64
	}
}

// segment is one append-only file holding positions from base on.
type segment struct {
	base int64
	path string
	f    *os.File
	size int64 // bytes of complete records; writer-owned after open
	// alloc is the file's length: records, then zeros written ahead so that
	// an fdatasync after an append need not also commit a new file size
	// (several times faster on ext4/xfs).
	alloc int64
}

// loc is where one event's record lives.
type loc struct {
	seg     int32
	size    uint32
	off     int64
	version int64
	stream  string
}

// Stats are counters for metrics: how much group commit batches.
type Stats struct {
	// Appends and Events acknowledged since open.
	Appends, Events int64
	// Commits is the number of group commits (one write each), Syncs the
	// number of fsyncs; Appends/Syncs is the average appends per fsync.
	Commits, Syncs int64
	// Bytes written to segments since open.
	Bytes int64
	// Head is the last global position.
	Head int64
	// Segments is the number of segment files.
	Segments int
}

var _ eventlog.Store = (*Log)(nil)

// Open opens (creating if needed) the log in dir, recovering it: a torn
// last record is cut, and the stream index is rebuilt from the segments
// where the persisted index is behind them. Corruption anywhere else fails
// the open with eventlog.ErrCorrupt.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "snapshots"), 0o755); err != nil {
		return nil, fmt.Errorf("filelog: create %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("filelog: lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("filelog: %s is in use by another process: %w", dir, err)
	}
	l := &Log{
		dir:        dir,
		opts:       opts,
		lock:       lock,
		streams:    make(map[string][]int64),
		ids:        make(map[uuid.UUID]int64),
		notify:     make(chan struct{}),
		reqs:       make(chan *appendReq, 1024),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	removeStaleTemps(dir, filepath.Join(dir, "snapshots"))
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	if l.meta, err = openMeta(dir, opts.Logger); err != nil {
		l.closeFiles()
		return nil, err
	}
	go l.run()
	return l, nil
}

func (l *Log) closeFiles() {
	for _, s := range l.segs {
		if s.f != nil {
			s.f.Close()
		}
	}
	l.lock.Close()
}

// enter registers an operation that uses the files; Close waits for it.
func (l *Log) enter() error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return eventlog.ErrClosed
	}
	l.inflight.Add(1)
	return nil
}

// Close waits for appends and reads in flight, fsyncs, persists the index
// and releases the directory.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return nil
	}
	l.closed = true
	close(l.closing)
	l.closeMu.Unlock()
	l.inflight.Wait()
	close(l.reqs)
	<-l.writerDone
	var errs []error
	if l.failed == nil {
		if err := l.syncTail(); err != nil {
			errs = append(errs, err)
		} else if err := l.writeIndex(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, l.meta.close())
	l.closeFiles()
	return errors.Join(errs...)
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	head, nsegs := int64(len(l.locs)), len(l.segs)
	l.mu.RUnlock()
	return Stats{
		Appends: l.stats.appends.Load(), Events: l.stats.events.Load(),
		Commits: l.stats.commits.Load(), Syncs: l.stats.syncs.Load(),
		Bytes: l.stats.bytes.Load(), Head: head, Segments: nsegs,
	}
}

// Head returns the last global position.
func (l *Log) Head(context.Context) (int64, error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.inflight.Done()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return int64(len(l.locs)), nil
}

// ReadAll returns up to limit events with Position >= from.
func (l *Log) ReadAll(ctx context.Context, from int64, limit int) ([]eventlog.Event, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.inflight.Done()
	if from < 1 {
		from = 1
	}
	l.mu.RLock()
	head := int64(len(l.locs))
	if from > head || limit <= 0 {
		l.mu.RUnlock()
		return nil, nil
	}
	end := min(head, from+int64(limit)-1)
	want := make([]loc, end-from+1)
	copy(want, l.locs[from-1:end])
	segs := l.segs
	l.mu.RUnlock()
	return l.read(ctx, segs, want, from, 1)
}

// ReadStream returns up to limit events of stream from version from in dir
// order.
func (l *Log) ReadStream(ctx context.Context, stream string, from int64, dir eventlog.Direction, limit int) ([]eventlog.Event, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.inflight.Done()
	l.mu.RLock()
	positions := l.streams[stream]
	n := int64(len(positions))
	var idx []int64
	switch dir {
	case eventlog.Forward:
		if from < 1 {
			from = 1
		}
		for v := from; v <= n && len(idx) < limit; v++ {
			idx = append(idx, positions[v-1])
		}
	case eventlog.Backward:
		for v := min(from, n); v >= 1 && len(idx) < limit; v-- {
			idx = append(idx, positions[v-1])
		}
	default:
		l.mu.RUnlock()
		return nil, fmt.Errorf("%w: direction %d", eventlog.ErrInvalid, dir)
	}
	want := make([]loc, len(idx))
	for i, p := range idx {
		want[i] = l.locs[p-1]
	}
	segs := l.segs
	l.mu.RUnlock()
	if len(want) == 0 {
		return nil, nil
	}
	out, err := l.read(ctx, segs, want, 0, 0)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Position != idx[i] {
			return nil, fmt.Errorf("%w: stream %q index points at position %d, record says %d", eventlog.ErrCorrupt, stream, idx[i], out[i].Position)
		}
	}
	return out, nil
}

// read fetches and verifies the records at want. Runs of records that are
// adjacent in one segment are read with one system call. When step is 1,
// positions must run from first on (a check against a misplaced record).
func (l *Log) read(ctx context.Context, segs []*segment, want []loc, first int64, step int64) ([]eventlog.Event, error) {
	out := make([]eventlog.Event, 0, len(want))
	var buf []byte
	for i := 0; i < len(want); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		j := i + 1
		for j < len(want) && want[j].seg == want[i].seg && want[j].off == want[j-1].off+int64(want[j-1].size) && j-i < 1024 {
			j++
		}
		seg := segs[want[i].seg]
		start, end := want[i].off, want[j-1].off+int64(want[j-1].size)
		if cap(buf) < int(end-start) {
			buf = make([]byte, end-start)
		}
		buf = buf[:end-start]
		if _, err := seg.f.ReadAt(buf, start); err != nil {
			return nil, fmt.Errorf("filelog: read %s at %d: %w", seg.path, start, err)
		}
		p := 0
		for k := i; k < j; k++ {
			w := want[k]
			payload, size, err := record.ReadFrame(buf[p:])
			if err == nil && size != int(w.size) {
				err = record.ErrLength
			}
			var e eventlog.Event
			if err == nil {
				e, err = record.DecodeEvent(payload)
			}
			if err == nil && (e.Version != w.version || e.Stream != w.stream || (step == 1 && e.Position != first+int64(len(out)))) {
				err = errors.New("record does not match the index")
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %s offset %d: %v", eventlog.ErrCorrupt, seg.path, w.off, err)
			}
			out = append(out, e)
			p += size
		}
		i = j
	}
	return out, nil
}

// Subscribe delivers events catch-up then live; see eventlog.Store.
func (l *Log) Subscribe(ctx context.Context, opts eventlog.SubscribeOptions, h eventlog.Handler) error {
	return subscribe.Run(ctx, source{l}, opts, h)
}

// source adapts the log to the shared subscription loop.
type source struct{ *Log }

// Wait blocks until a commit moves the head past after (or ctx ends, or
// the log closes).
func (s source) Wait(ctx context.Context, after int64) error {
	s.mu.RLock()
	ch, head := s.notify, int64(len(s.locs))
	s.mu.RUnlock()
	if head > after {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return eventlog.ErrClosed
	}
}

// Checkpoint returns subscriber name's stored checkpoint.
func (l *Log) Checkpoint(_ context.Context, name string) (int64, error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.inflight.Done()
	return l.meta.checkpoint(name), nil
}

// SaveCheckpoint durably stores subscriber name's checkpoint.
func (l *Log) SaveCheckpoint(_ context.Context, name string, position int64) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.inflight.Done()
	return l.meta.saveCheckpoint(name, position)
}

// SaveSnapshot durably replaces the stream's snapshot.
func (l *Log) SaveSnapshot(_ context.Context, s eventlog.Snapshot) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.inflight.Done()
	if s.Time.IsZero() {
		s.Time = time.Now().UTC()
	}
	return l.meta.saveSnapshot(s)
}

// LoadSnapshot returns the stream's snapshot if one is stored.
func (l *Log) LoadSnapshot(_ context.Context, stream string) (eventlog.Snapshot, bool, error) {
	if err := l.enter(); err != nil {
		return eventlog.Snapshot{}, false, err
	}
	defer l.inflight.Done()
	return l.meta.loadSnapshot(stream)
}

// removeStaleTemps deletes temp files left by a crash during an atomic
// replace (index, checkpoints, snapshots); the lock makes this safe.
func removeStaleTemps(dirs ...string) {
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, "*.tmp*"))
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
}
