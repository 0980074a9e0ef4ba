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
// the group commit holding it is durable per Options.Durability. Once
// queued, an append is not abandoned when ctx ends: the caller always learns
// whether it was stored.
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

// maxSyncs bounds the fsyncs in flight at once. Appends that arrive while an
// fsync runs are written at once and covered by an fsync of their own that
// overlaps it, so a writer waits less than two fsyncs. Two measured best on
// this project's machines (more overlapping fsyncs just queue in the disk).
const maxSyncs = 2

// commitDelay is the longest the writer waits, after acknowledging a group,
// for those writers to come back before it starts the next write (see run).
const commitDelay = 200 * time.Microsecond

// run is the single writer: it takes every queued append, validates them in
// order against the index plus the batches written but not yet durable,
// writes them with one write and starts one fdatasync for them (group
// commit). When an fsync returns, every batch written before it started is
// durable: those are published to readers, in order, and acknowledged.
func (l *Log) run() {
	defer close(l.writerDone)
	var tick <-chan time.Time
	if l.opts.Durability == SyncInterval {
		t := time.NewTicker(l.opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	w := &writer{
		pendVersion: map[string]int64{},
		pendIDs:     map[uuid.UUID]*appendReq{},
		nextPos:     int64(len(l.locs)) + 1,
		syncDone:    make(chan syncResult, maxSyncs),
		maxSyncs:    maxSyncs,
	}
	if l.opts.Durability == SyncEveryAppend {
		w.maxSyncs = 1
	}
	input := true
	for {
		in := l.reqs
		if !input || w.syncing >= w.maxSyncs {
			in = nil
		}
		if !input && w.syncing == 0 {
			return
		}
		select {
		case req, ok := <-in:
			if !ok {
				input = false
				continue
			}
			reqs := append(w.reqs[:0], req)
		drain:
			for len(reqs) < l.opts.MaxBatch {
				select {
				case r, ok := <-l.reqs:
					if !ok {
						input = false
						break drain
					}
					reqs = append(reqs, r)
				default:
					break drain
				}
			}
			// Commit delay: the writers just acknowledged are usually
			// about to append again; waiting a moment for them lets one
			// fsync carry everyone instead of splitting the writers into
			// cohorts that alternate between fsyncs.
			if l.opts.Durability == SyncGroup && len(reqs) < w.lastAcked && input {
				timer := time.NewTimer(commitDelay)
			wait:
				for len(reqs) < w.lastAcked && len(reqs) < l.opts.MaxBatch {
					select {
					case r, ok := <-l.reqs:
						if !ok {
							input = false
							break wait
						}
						reqs = append(reqs, r)
					case r := <-w.syncDone:
						// Acknowledge durable batches meanwhile.
						w.syncing--
						l.synced(w, r)
					case <-timer.C:
						break wait
					}
				}
				timer.Stop()
			}
			w.lastAcked = 0
			w.reqs = reqs
			l.commit(w, reqs)
		case r := <-w.syncDone:
			w.syncing--
			l.synced(w, r)
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

// writer is the writer goroutine's state.
type writer struct {
	reqs        []*appendReq
	pendVersion map[string]int64         // stream versions including unpublished batches
	pendIDs     map[uuid.UUID]*appendReq // ids of unpublished batches
	nextPos     int64                    // next global position to assign
	unpublished []*batch                 // written, awaiting fsync, in order
	seq         int64
	syncing     int
	maxSyncs    int
	syncDone    chan syncResult
	dirty       bool // written but not fsynced (SyncInterval)
	committing  bool
	lastAcked   int // requests acknowledged since the last batch was taken
}

// batch is one group commit: one write, one fsync.
type batch struct {
	seq      int64
	reqs     []*appendReq
	buf      []byte
	locs     []loc
	ids      []uuid.UUID
	firstPos int64
	accepted int
}

type syncResult struct {
	upto int64 // every batch with seq <= upto is durable
	err  error
}

func (l *Log) commit(w *writer, reqs []*appendReq) {
	// While a batch is being built its versions live only in the pending
	// maps; synced (called by a roll) must not clear them.
	w.committing = true
	defer func() { w.committing = false }()
	b := &batch{reqs: append([]*appendReq(nil), reqs...), firstPos: w.nextPos}
	if l.failed != nil {
		l.respond(b, l.failed)
		return
	}
	for _, r := range reqs {
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
			FirstPosition: w.nextPos, LastPosition: w.nextPos + int64(len(r.events)) - 1,
		}
		for i := range r.events {
			e := &r.events[i]
			e.Version, e.Position = cur+1+int64(i), w.nextPos
			w.nextPos++
			var start int
			b.buf, start = record.BeginFrame(b.buf)
			b.buf = record.AppendEvent(b.buf, e)
			record.SealFrame(b.buf[start:])
			b.locs = append(b.locs, loc{off: int64(start), size: uint32(len(b.buf) - start), version: e.Version, stream: r.stream})
			b.ids = append(b.ids, e.ID)
			w.pendIDs[e.ID] = r
		}
		w.pendVersion[r.stream] = cur + int64(len(r.events))
		b.accepted++
	}
	if len(b.buf) == 0 {
		// Nothing to write (conflicts, retries). A retry of an append
		// still in flight must not be acknowledged before it: queue
		// behind the batches in flight.
		if len(w.unpublished) > 0 {
			b.seq = w.seq
			w.unpublished = append(w.unpublished, b)
			return
		}
		l.respond(b, nil)
		return
	}
	if err := l.write(w, b); err != nil {
		l.fail(err)
		l.failUnpublished(w)
		l.respond(b, l.failed)
		return
	}
	if l.opts.Durability == SyncInterval {
		w.dirty = true
		l.publish(b)
		clear(w.pendVersion)
		clear(w.pendIDs)
		return
	}
	w.seq++
	b.seq = w.seq
	w.unpublished = append(w.unpublished, b)
	w.syncing++
	seg := l.segs[len(l.segs)-1]
	go func(seq int64) {
		w.syncDone <- syncResult{upto: seq, err: fdatasync(seg.f)}
	}(b.seq)
}

// synced publishes the batches an fsync made durable.
func (l *Log) synced(w *writer, r syncResult) {
	if r.err != nil {
		if l.failed == nil {
			l.fail(fmt.Errorf("fsync: %w", r.err))
		}
		l.failUnpublished(w)
		return
	}
	l.stats.syncs.Add(1)
	n := 0
	for n < len(w.unpublished) && w.unpublished[n].seq <= r.upto {
		w.lastAcked += len(w.unpublished[n].reqs)
		l.publish(w.unpublished[n])
		n++
	}
	w.unpublished = append(w.unpublished[:0], w.unpublished[n:]...)
	if len(w.unpublished) == 0 && !w.committing {
		// Nothing in flight: the index alone is the truth again.
		clear(w.pendVersion)
		clear(w.pendIDs)
	}
}

func (l *Log) failUnpublished(w *writer) {
	for _, b := range w.unpublished {
		l.respond(b, l.failed)
	}
	w.unpublished = w.unpublished[:0]
	clear(w.pendVersion)
	clear(w.pendIDs)
	w.nextPos = int64(len(l.locs)) + 1
}

// publish makes a durable batch visible to readers and acknowledges it.
func (l *Log) publish(b *batch) {
	if len(b.locs) == 0 {
		l.respond(b, nil)
		return
	}
	l.mu.Lock()
	for i, lc := range b.locs {
		pos := b.firstPos + int64(i)
		l.locs = append(l.locs, lc)
		l.streams[lc.stream] = append(l.streams[lc.stream], pos)
		l.ids[b.ids[i]] = pos
	}
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	l.stats.appends.Add(int64(b.accepted))
	l.stats.events.Add(int64(len(b.locs)))
	l.stats.commits.Add(1)
	l.stats.bytes.Add(int64(len(b.buf)))
	l.respond(b, nil)
}

// respond acknowledges every request of b; err, when set, replaces the
// result of those that were accepted into the batch.
func (l *Log) respond(b *batch, err error) {
	for _, r := range b.reqs {
		if err != nil && r.err == nil && r.follow == nil {
			r.err, r.res = err, eventlog.AppendResult{}
		}
	}
	for _, r := range b.reqs {
		if r.follow != nil {
			r.res, r.err = r.follow.res, r.follow.err
		}
		close(r.done)
	}
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

// write puts the encoded batch at the end of the current segment, rolling
// to a new segment first when it is full, and fixes the records' locations.
func (l *Log) write(w *writer, b *batch) error {
	seg := l.segs[len(l.segs)-1]
	if seg.size > 0 && seg.size+int64(len(b.buf)) > l.opts.SegmentBytes {
		// The persisted index written at the roll must match the
		// segments: let every batch in flight become durable first.
		for w.syncing > 0 {
			r := <-w.syncDone
			w.syncing--
			l.synced(w, r)
		}
		if l.failed != nil {
			return l.failed
		}
		var err error
		if seg, err = l.roll(w, b.firstPos); err != nil {
			return err
		}
	}
	if need := seg.size + int64(len(b.buf)); need > seg.alloc {
		if err := l.preallocate(seg, need); err != nil {
			return err
		}
	}
	if _, err := seg.f.WriteAt(b.buf, seg.size); err != nil {
		return fmt.Errorf("filelog: write %s: %w", seg.path, err)
	}
	segIdx := int32(len(l.segs) - 1)
	for i := range b.locs {
		b.locs[i].seg = segIdx
		b.locs[i].off += seg.size
	}
	seg.size += int64(len(b.buf))
	return nil
}

// preallocChunk is how far ahead of the records a segment is zero-filled.
const preallocChunk = 4 << 20

var zeros = make([]byte, 1<<20)

// preallocate zero-fills seg to at least need bytes, a chunk at a time (but
// not past SegmentBytes unless a single batch needs it). The batch's own
// fdatasync then commits the new length once; later ones only flush data.
func (l *Log) preallocate(seg *segment, need int64) error {
	target := max(need, min(seg.alloc+preallocChunk, l.opts.SegmentBytes))
	for off := seg.alloc; off < target; {
		n := min(int64(len(zeros)), target-off)
		if _, err := seg.f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("filelog: preallocate %s: %w", seg.path, err)
		}
		off += n
	}
	seg.alloc = target
	return nil
}

// roll seals the current segment (cut to its records, fsync, persisted
// index) and starts a new one whose first record is at position base.
func (l *Log) roll(w *writer, base int64) (*segment, error) {
	old := l.segs[len(l.segs)-1]
	if old.alloc > old.size {
		if err := old.f.Truncate(old.size); err != nil {
			return nil, fmt.Errorf("filelog: seal %s: %w", old.path, err)
		}
		old.alloc = old.size
	}
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
	if l.failed != nil {
		return
	}
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
