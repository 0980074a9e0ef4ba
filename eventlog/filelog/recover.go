package filelog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog/internal/record"
)

const indexFile = "index.dat"

var indexMagic = []byte("WMESHIX1")

// recover opens the segments, loads the persisted index when it is valid,
// then scans the segments from where the index ends: records after it are
// indexed, a torn last record is cut, any other bad record is an error.
func (l *Log) recover() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("filelog: list %s: %w", l.dir, err)
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil || base < 1 {
			return fmt.Errorf("%w: unexpected segment file %s", eventlog.ErrCorrupt, name)
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	if len(bases) == 0 {
		seg, err := createSegment(l.dir, 1)
		if err != nil {
			return err
		}
		l.segs = []*segment{seg}
		return nil
	}
	for _, b := range bases {
		path := filepath.Join(l.dir, segmentName(b))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("filelog: open segment: %w", err)
		}
		l.segs = append(l.segs, &segment{base: b, path: path, f: f})
	}

	startSeg, startOff := 0, int64(0)
	if !l.opts.VerifyOnOpen {
		if seg, off, ok := l.loadIndex(); ok {
			startSeg, startOff = seg, off
		}
	}
	indexed := len(l.locs)
	for i := startSeg; i < len(l.segs); i++ {
		off := int64(0)
		if i == startSeg {
			off = startOff
		}
		if err := l.scan(i, off); err != nil {
			return err
		}
	}
	if n := len(l.locs) - indexed; n > 0 {
		l.opts.Logger.Info("filelog: indexed records from segments", "dir", l.dir, "records", n, "from_persisted_index", indexed)
	}
	return nil
}

// scan indexes the records of segment i from byte off on.
func (l *Log) scan(i int, off int64) error {
	seg := l.segs[i]
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return fmt.Errorf("filelog: read segment: %w", err)
	}
	last := i == len(l.segs)-1
	p := off
	for p < int64(len(data)) {
		payload, size, err := record.ReadFrame(data[p:])
		if err != nil && allZero(data[p:]) {
			break // the zero-filled space ahead of the records
		}
		if err != nil {
			if last && tornTail(data[p:], err) {
				l.opts.Logger.Warn("filelog: cutting torn last record", "segment", seg.path, "offset", p, "bytes", int64(len(data))-p)
				data = data[:p]
				if err := seg.f.Truncate(p); err != nil {
					return fmt.Errorf("filelog: truncate torn tail of %s: %w", seg.path, err)
				}
				if err := fdatasync(seg.f); err != nil {
					return fmt.Errorf("filelog: fsync %s: %w", seg.path, err)
				}
				break
			}
			return fmt.Errorf("%w: %s offset %d: %v", eventlog.ErrCorrupt, seg.path, p, err)
		}
		pos, version, id, stream, err := record.EventHeader(payload)
		if err != nil {
			return fmt.Errorf("%w: %s offset %d: %v", eventlog.ErrCorrupt, seg.path, p, err)
		}
		want := int64(len(l.locs)) + 1
		if pos != want || (p == 0 && pos != seg.base) {
			return fmt.Errorf("%w: %s offset %d holds position %d, want %d", eventlog.ErrCorrupt, seg.path, p, pos, want)
		}
		if ps := l.streams[stream]; len(ps) > 0 {
			stream = l.locs[ps[0]-1].stream // share one copy of the name
		}
		if v := int64(len(l.streams[stream])) + 1; version != v {
			return fmt.Errorf("%w: %s offset %d: stream %q version %d, want %d", eventlog.ErrCorrupt, seg.path, p, stream, version, v)
		}
		if _, dup := l.ids[id]; dup {
			return fmt.Errorf("%w: %s offset %d: event id %s stored twice", eventlog.ErrCorrupt, seg.path, p, id)
		}
		l.locs = append(l.locs, loc{seg: int32(i), off: p, size: uint32(size), version: version, stream: stream})
		l.streams[stream] = append(l.streams[stream], pos)
		l.ids[id] = pos
		p += int64(size)
	}
	if p == 0 && !last {
		return fmt.Errorf("%w: empty segment %s before the last", eventlog.ErrCorrupt, seg.path)
	}
	if p == 0 && seg.base != int64(len(l.locs))+1 {
		return fmt.Errorf("%w: empty last segment %s, want base %d", eventlog.ErrCorrupt, seg.path, len(l.locs)+1)
	}
	seg.size = p
	seg.alloc = p
	if st, err := seg.f.Stat(); err == nil {
		seg.alloc = st.Size()
	}
	return nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// tornTail tells a write cut short by a crash from corruption inside the
// log: a bad record in the last segment is a torn tail when no good record
// follows it (a crash can only damage what was being written last; it may
// leave a cut-off record, zeros, or a cut-off record followed by the start of
// another). A good record after a bad one means the bad one is corruption.
func tornTail(rest []byte, _ error) bool {
	for q := 1; q+record.HeaderSize <= len(rest); q++ {
		n := record.PayloadLen(rest[q:])
		if n == 0 || int64(n) > int64(len(rest)-q-record.HeaderSize) {
			continue // cheap rejection of most offsets
		}
		if payload, _, err := record.ReadFrame(rest[q:]); err == nil {
			if _, _, _, _, err := record.EventHeader(payload); err == nil {
				return false
			}
		}
	}
	return true
}

// writeIndex persists the in-memory index (atomically: temp file, fsync,
// rename, fsync dir) so the next open scans only what came after it.
//
// Layout: magic, uint64 length, uint32 CRC32C of the body, body. The body
// holds the segments (base, covered size), the stream names, and per
// position: segment, offset, size, version, stream number, event id.
func (l *Log) writeIndex() error {
	l.mu.RLock()
	body := make([]byte, 0, 64+len(l.locs)*32)
	body = binary.AppendUvarint(body, uint64(len(l.segs)))
	for _, s := range l.segs {
		body = binary.AppendUvarint(body, uint64(s.base))
		body = binary.AppendUvarint(body, uint64(s.size))
	}
	streamNo := make(map[string]uint64, len(l.streams))
	body = binary.AppendUvarint(body, uint64(len(l.streams)))
	for name := range l.streams {
		streamNo[name] = uint64(len(streamNo))
		body = binary.AppendUvarint(body, uint64(len(name)))
		body = append(body, name...)
	}
	body = binary.AppendUvarint(body, uint64(len(l.locs)))
	ids := make([]uuid.UUID, len(l.locs))
	for id, pos := range l.ids {
		ids[pos-1] = id
	}
	for i, lc := range l.locs {
		body = binary.AppendUvarint(body, uint64(lc.seg))
		body = binary.AppendUvarint(body, uint64(lc.off))
		body = binary.AppendUvarint(body, uint64(lc.size))
		body = binary.AppendUvarint(body, uint64(lc.version))
		body = binary.AppendUvarint(body, streamNo[lc.stream])
		body = append(body, ids[i][:]...)
	}
	l.mu.RUnlock()

	out := append([]byte(nil), indexMagic...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(body)))
	out = binary.LittleEndian.AppendUint32(out, record.Checksum(body))
	out = append(out, body...)
	return writeFileAtomic(l.dir, indexFile, out)
}

// loadIndex reads the persisted index; on any doubt (missing, bad checksum,
// segments that do not match) it returns ok=false and the caller rebuilds
// from the segments. It returns where scanning must resume.
func (l *Log) loadIndex() (segIdx int, off int64, ok bool) {
	b, err := os.ReadFile(filepath.Join(l.dir, indexFile))
	if err != nil {
		return 0, 0, false
	}
	reject := func(why string) (int, int64, bool) {
		l.opts.Logger.Warn("filelog: ignoring persisted index, rebuilding from segments", "dir", l.dir, "reason", why)
		l.locs, l.streams, l.ids = nil, make(map[string][]int64), make(map[uuid.UUID]int64)
		return 0, 0, false
	}
	hl := len(indexMagic) + 12
	if len(b) < hl || !bytes.Equal(b[:len(indexMagic)], indexMagic) {
		return reject("bad header")
	}
	n := binary.LittleEndian.Uint64(b[len(indexMagic):])
	body := b[hl:]
	if uint64(len(body)) != n || record.Checksum(body) != binary.LittleEndian.Uint32(b[len(indexMagic)+8:]) {
		return reject("checksum mismatch")
	}
	d := &uvarints{b: body}
	nsegs := int(d.next())
	if nsegs < 1 || nsegs > len(l.segs) {
		return reject("segment count")
	}
	var lastSize int64
	for i := 0; i < nsegs; i++ {
		base, size := int64(d.next()), int64(d.next())
		st, err := l.segs[i].f.Stat()
		if err != nil || base != l.segs[i].base || st.Size() < size {
			return reject("segments differ from the index")
		}
		if i < nsegs-1 && st.Size() != size {
			return reject("sealed segment changed size")
		}
		l.segs[i].size = size
		lastSize = size
	}
	names := make([]string, d.next())
	for i := range names {
		names[i] = string(d.bytes(int(d.next())))
	}
	count := d.next()
	if d.err || count > uint64(len(body)) {
		return reject("malformed")
	}
	l.locs = make([]loc, 0, count)
	for i := uint64(0); i < count && !d.err; i++ {
		lc := loc{seg: int32(d.next()), off: int64(d.next()), size: uint32(d.next()), version: int64(d.next())}
		sn := d.next()
		var id uuid.UUID
		copy(id[:], d.bytes(16))
		if d.err || sn >= uint64(len(names)) || int(lc.seg) >= nsegs {
			return reject("malformed entry")
		}
		lc.stream = names[sn]
		pos := int64(i) + 1
		l.locs = append(l.locs, lc)
		l.streams[lc.stream] = append(l.streams[lc.stream], pos)
		l.ids[id] = pos
	}
	if d.err || len(d.b) != 0 {
		return reject("malformed")
	}
	return nsegs - 1, lastSize, true
}

type uvarints struct {
	b   []byte
	err bool
}

func (d *uvarints) next() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *uvarints) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.err = true
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// writeFileAtomic replaces dir/name with data durably.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return fmt.Errorf("filelog: write %s: %w", name, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("filelog: write %s: %w", name, err)
	}
	return syncDir(dir)
}
