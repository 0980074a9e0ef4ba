package filelog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog/internal/record"
	"github.com/wasmesh/wasmesh/eventlog/internal/prep"
)

// appendReq is one Append waiting for the writer.
type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventlog.ExpectedVersion
	events   []eventlog.Event
	done     chan struct{}

	res    eventlog.AppendResult
	err    error
	follow *appendReq // a retry of an append in the same group commit
}

// Append writes events to stream; see eventlog.Store. The call returns when
// the group commit holding it is durable per Options.Durability.
func (l *Log) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, events ...eventlog.Event) (eventlog.AppendResult, error) {
	evs, err := prep.Events(ctx, stream, events)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := l.enter(); err != nil {
		return eventlog.AppendResult{}, err
	}
	defer l.inflight.Done()
	req := &appendReq{ctx: ctx, stream: stream, expected: expected, events: evs, done: make(chan struct{})}
	l.reqs <- req
	<-req.done
	return req.res, req.err
}

// run is the single writer: it takes every append queued while the previous
// fsync ran, validates them in order against the index, writes them with one
// write and covers them with one fsync. That is group commit.
func (l *Log) run() {
	defer close(l.writerDone)
	var tick <-chan time.Time
	if l.opts.Durability == SyncInterval {
		t := time.NewTicker(l.opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	w := &writer{pendVersion: map[string]int64{}, pendIDs: map[uuid.UUID]*appendReq{}}
	batch := make([]*appendReq, 0, l.opts.MaxBatch)
	for {
		select {
		case req, ok := <-l.reqs:
			if !ok {
				return
			}
			batch = append(batch[:0], req)
		drain:
			for len(batch) < l.opts.MaxBatch {
				select {
				case r, ok := <-l.reqs:
					if !ok {
						break drain
					}
					batch = append(batch, r)
				default:
					break drain
				}
			}
			l.commit(w, batch)
		case <-tick:
			if w.dirty && l.failed == nil {
				if err := l.syncTail(); err != nil {
					l.fail(err)
				}
				w.dirty = false
			}
		}
	}
}

// writer is the writer goroutine's scratch state, reused across commits.
type writer struct {
	buf         []byte
	locs        []loc
	ids         []uuid.UUID
	pendVersion map[string]int64
	pendIDs     map[uuid.UUID]*appendReq
	dirty       bool // written but not fsynced (SyncInterval)
}

func (l *Log) commit(w *writer, batch []*appendReq) {
	defer func() {
		for _, r := range batch {
			if r.follow != nil {
				r.res, r.err = r.follow.res, r.follow.err
			}
			close(r.done)
		}
	}()
	if l.failed != nil {
		for _, r := range batch {
			r.err = l.failed
		}
		return
	}
	w.buf, w.locs, w.ids = w.buf[:0], w.locs[:0], w.ids[:0]
	clear(w.pendVersion)
	clear(w.pendIDs)
	head := int64(len(l.locs))
	nextPos := head + 1
	accepted := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if l.checkIDs(w, r) {
			continue
		}
		cur, ok := w.pendVersion[r.stream]
		if !ok {
			cur = int64(len(l.streams[r.stream]))
		}
		if !r.expected.Check(cur) {
			r.err = &eventlog.ConcurrencyError{Stream: r.stream, Expected: r.expected, Actual: cur}
			continue
		}
		r.res = eventlog.AppendResult{
			FirstVersion: cur + 1, LastVersion: cur + int64(len(r.events)),
			FirstPosition: nextPos, LastPosition: nextPos + int64(len(r.events)) - 1,
		}
		for i := range r.events {
			e := &r.events[i]
			e.Version, e.Position = cur+1+int64(i), nextPos
			nextPos++
			var start int
			w.buf, start = record.BeginFrame(w.buf)
			w.buf = record.AppendEvent(w.buf, e)
			record.SealFrame(w.buf[start:])
			w.locs = append(w.locs, loc{off: int64(start), size: uint32(len(w.buf) - start), version: e.Version, stream: r.stream})
			w.ids = append(w.ids, e.ID)
			w.pendIDs[e.ID] = r
		}
		w.pendVersion[r.stream] = cur + int64(len(r.events))
		accepted++
	}
	if len(w.buf) == 0 {
		return
	}
	if err := l.writeBatch(w, head+1); err != nil {
		l.fail(err)
		for _, r := range batch {
			if r.err == nil {
				r.err = l.failed
			}
		}
		return
	}
	l.stats.appends.Add(int64(accepted))
	l.stats.events.Add(int64(len(w.locs)))
	l.stats.commits.Add(1)
	l.stats.bytes.Add(int64(len(w.buf)))
}

// checkIDs handles idempotency: it reports true when r is settled already,
// as a retry of a stored append (r.res set), a retry of an append earlier in
// this batch (r.follow set) or a misuse of stored ids (r.err set).
func (l *Log) checkIDs(w *writer, r *appendReq) bool {
	first := r.events[0].ID
	if pos, ok := l.ids[first]; ok {
		lc := l.locs[pos-1]
		for i, e := range r.events {
			p, ok := l.ids[e.ID]
			if !ok || p != pos+int64(i) || l.locs[p-1].stream != r.stream || l.locs[p-1].version != lc.version+int64(i) {
				r.err = fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, first, r.stream)
				return true
			}
		}
		n := int64(len(r.events))
		r.res = eventlog.AppendResult{FirstVersion: lc.version, LastVersion: lc.version + n - 1, FirstPosition: pos, LastPosition: pos + n - 1}
		return true
	}
	if prev, ok := w.pendIDs[first]; ok {
		if prev.stream == r.stream && len(prev.events) == len(r.events) {
			same := true
			for i := range r.events {
				same = same && prev.events[i].ID == r.events[i].ID
			}
			if same {
				r.follow = prev
				return true
			}
		}
		r.err = fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, first, r.stream)
		return true
	}
	for _, e := range r.events {
		_, stored := l.ids[e.ID]
		_, pending := w.pendIDs[e.ID]
		if stored || pending {
			r.err = fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, e.ID, r.stream)
			return true
		}
	}
	return false
}

// writeBatch writes the encoded batch (first position firstPos) at the end
// of the current segment, rolling to a new one when it is full, makes it
// durable per the setting, then publishes it to readers.
func (l *Log) writeBatch(w *writer, firstPos int64) error {
	seg := l.segs[len(l.segs)-1]
	if seg.size > 0 && seg.size+int64(len(w.buf)) > l.opts.SegmentBytes {
		var err error
		if seg, err = l.roll(w, firstPos); err != nil {
			return err
		}
	}
	if _, err := seg.f.WriteAt(w.buf, seg.size); err != nil {
		return fmt.Errorf("filelog: write %s: %w", seg.path, err)
	}
	if l.opts.Durability == SyncInterval {
		w.dirty = true
	} else {
		if err := fdatasync(seg.f); err != nil {
			return fmt.Errorf("filelog: fsync %s: %w", seg.path, err)
		}
		l.stats.syncs.Add(1)
	}
	segIdx := int32(len(l.segs) - 1)
	base := seg.size
	seg.size += int64(len(w.buf))

	l.mu.Lock()
	for i, lc := range w.locs {
		lc.seg, lc.off = segIdx, base+lc.off
		pos := firstPos + int64(i)
		l.locs = append(l.locs, lc)
		l.streams[lc.stream] = append(l.streams[lc.stream], pos)
		l.ids[w.ids[i]] = pos
	}
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// roll seals the current segment (fsync, persisted index) and starts a new
// one whose first record is at position base.
func (l *Log) roll(w *writer, base int64) (*segment, error) {
	if err := l.syncTail(); err != nil {
		return nil, err
	}
	w.dirty = false
	if err := l.writeIndex(); err != nil {
		return nil, err
	}
	seg, err := createSegment(l.dir, base)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	return seg, nil
}

func (l *Log) fail(err error) {
	l.opts.Logger.Error("filelog: write failed; the log refuses appends until reopened", "dir", l.dir, "err", err)
	l.failed = fmt.Errorf("filelog: log failed, reopen to recover: %w", err)
}

// syncTail fsyncs the current segment.
func (l *Log) syncTail() error {
	seg := l.segs[len(l.segs)-1]
	if err := fdatasync(seg.f); err != nil {
		return fmt.Errorf("filelog: fsync %s: %w", seg.path, err)
	}
	l.stats.syncs.Add(1)
	return nil
}

func segmentName(base int64) string { return fmt.Sprintf("%020d.seg", base) }

func createSegment(dir string, base int64) (*segment, error) {
	path := filepath.Join(dir, segmentName(base))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("filelog: create segment: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{base: base, path: path, f: f}, nil
}

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// syncDir makes a directory's entries (new or renamed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filelog: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("filelog: fsync dir %s: %w", dir, err)
	}
	return nil
}
