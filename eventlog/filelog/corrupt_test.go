package filelog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
)

// fill writes n single-event appends to a fresh log with small segments and
// closes it, returning the sorted segment paths.
func fill(t *testing.T, dir string, n int) []string {
	t.Helper()
	l, err := filelog.Open(dir, filelog.Options{SegmentBytes: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		e := eventlog.NewEvent("Fact", []byte(fmt.Sprintf(`{"i":%d,"pad":"................................"}`, i)))
		if _, err := l.Append(context.Background(), fmt.Sprintf("c-%d", i%4), eventlog.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	sort.Strings(segs)
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	return segs
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x5a
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readEverything(l *filelog.Log) ([]eventlog.Event, error) {
	ctx := context.Background()
	var out []eventlog.Event
	for from := int64(1); ; {
		page, err := l.ReadAll(ctx, from, 50)
		if err != nil || len(page) == 0 {
			return out, err
		}
		out = append(out, page...)
		from += int64(len(page))
	}
}

// TestFlippedBytesDetected flips one byte inside a record in various places
// and checks it is reported as corruption, by the open (when it scans) or by
// the read (when the persisted index let the open skip the scan), and that
// the damaged record is never returned.
func TestFlippedBytesDetected(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seg       int // which segment; -1 the last
		off       int64
		dropIndex bool
		verify    bool
	}{
		{"first segment, index trusted, caught on read", 0, 100, false, false},
		{"middle segment, VerifyOnOpen, caught on open", 1, 30, false, true},
		{"first segment, no index, caught on rebuild", 0, 5, true, false},
		{"last segment, not its last record, caught on open", -1, 20, true, false},
		{"record header length, caught on read", 1, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			segs := fill(t, dir, 120)
			seg := segs[len(segs)-1]
			if tc.seg >= 0 {
				seg = segs[tc.seg]
			}
			flip(t, seg, tc.off)
			if tc.dropIndex {
				os.Remove(filepath.Join(dir, "index.dat"))
			}
			l, err := filelog.Open(dir, filelog.Options{VerifyOnOpen: tc.verify})
			if tc.dropIndex || tc.verify {
				if !errors.Is(err, eventlog.ErrCorrupt) {
					t.Fatalf("open = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open with trusted index: %v", err)
			}
			defer l.Close()
			got, err := readEverything(l)
			if !errors.Is(err, eventlog.ErrCorrupt) {
				t.Fatalf("reading everything = %d events, %v; want ErrCorrupt", len(got), err)
			}
			// Every event returned before the error is intact.
			for _, e := range got {
				want := fmt.Sprintf(`{"i":%d,"pad":"................................"}`, e.Position-1)
				if string(e.Data) != want {
					t.Fatalf("event %d returned damaged: %q", e.Position, e.Data)
				}
			}
			// The damaged record's stream read fails too.
			failed := 0
			for s := 0; s < 4; s++ {
				if _, err := l.ReadStream(context.Background(), fmt.Sprintf("c-%d", s), 1, eventlog.Forward, 1000); errors.Is(err, eventlog.ErrCorrupt) {
					failed++
				}
			}
			if failed != 1 {
				t.Fatalf("%d stream reads reported corruption, want exactly 1", failed)
			}
		})
	}
}

// TestTornTailCut: a half-written last record is cut on open, the rest is
// intact and appends continue after it.
func TestTornTailCut(t *testing.T) {
	dir := t.TempDir()
	segs := fill(t, dir, 60)
	last := segs[len(segs)-1]
	st, _ := os.Stat(last)
	for _, tail := range [][]byte{
		{10, 0, 0},                       // part of a header
		{200, 0, 0, 0, 1, 2, 3, 4, 9, 9}, // header and part of the payload
		make([]byte, 64),                 // zeros, as a power loss can leave
	} {
		f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
		f.Write(tail)
		f.Close()
		l, err := filelog.Open(dir, filelog.Options{})
		if err != nil {
			t.Fatalf("open with torn tail %v: %v", tail, err)
		}
		st2, _ := os.Stat(last)
		if tail[0] != 0 && st2.Size() > st.Size() {
			t.Fatalf("tail not cut: %d bytes, want <= %d", st2.Size(), st.Size())
		}
		got, err := readEverything(l)
		if err != nil || len(got) != 60 {
			t.Fatalf("after cut: %d events, %v", len(got), err)
		}
		l.Close()
	}
	l, _ := filelog.Open(dir, filelog.Options{})
	defer l.Close()
	r, err := l.Append(context.Background(), "c-0", eventlog.Exact(15), eventlog.NewEvent("After", nil))
	if err != nil || r.FirstPosition != 61 {
		t.Fatalf("append after recovery = %+v, %v", r, err)
	}
}

// TestIndexBehindIsCaughtUp: an index persisted before the last appends
// (as after a crash) is completed from the segments; a damaged index is
// ignored and rebuilt.
func TestIndexBehindIsCaughtUp(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 40)
	old, err := os.ReadFile(filepath.Join(dir, "index.dat"))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := filelog.Open(dir, filelog.Options{SegmentBytes: 2 << 10})
	for i := 0; i < 100; i++ {
		if _, err := l.Append(context.Background(), "late-1", eventlog.Any, eventlog.NewEvent("Late", []byte("0123456789012345678901234567890123456789"))); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()

	for name, index := range map[string][]byte{
		"behind":  old,
		"damaged": append(append([]byte(nil), old[:len(old)/2]...), 0xff),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "index.dat"), index, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := filelog.Open(dir, filelog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if h, _ := l.Head(context.Background()); h != 140 {
				t.Fatalf("head = %d, want 140", h)
			}
			late, err := l.ReadStream(context.Background(), "late-1", eventlog.StreamEnd, eventlog.Backward, 1)
			if err != nil || len(late) != 1 || late[0].Version != 100 || late[0].Position != 140 {
				t.Fatalf("late stream tail = %+v, %v", late, err)
			}
		})
	}
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l2, err := filelog.Open(dir, filelog.Options{}); err == nil {
		l2.Close()
		t.Fatal("a second open of the same directory succeeded")
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want filelog.Durability
		ok   bool
	}{
		{"", filelog.SyncGroup, true},
		{"group", filelog.SyncGroup, true},
		{"always", filelog.SyncEveryAppend, true},
		{"interval", filelog.SyncInterval, true},
		{"sometimes", 0, false},
	} {
		got, err := filelog.ParseDurability(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseDurability(%q) = %v, %v", tc.in, got, err)
		}
	}
	if _, err := filelog.Open(t.TempDir(), filelog.Options{Durability: 9}); err == nil {
		t.Error("unknown durability accepted")
	}
}

// TestTornTailAfterTornWrite: a write cut short and then more garbage after
// it (a cut-off record followed by the start of another) is still a torn
// tail, while a bad record with a good one after it is corruption.
func TestTornTailAfterTornWrite(t *testing.T) {
	dir := t.TempDir()
	segs := fill(t, dir, 60)
	last := segs[len(segs)-1]
	st, _ := os.Stat(last)
	good, _ := os.ReadFile(last)

	// A header promising 100 bytes, 40 of them, then a header promising 300.
	tail := append([]byte{100, 0, 0, 0, 1, 2, 3, 4}, make([]byte, 40)...)
	tail = append(tail, 44, 1, 0, 0, 9, 9, 9, 9)
	tail = append(tail, make([]byte, 70)...)
	os.WriteFile(last, append(append([]byte(nil), good...), tail...), 0o644)
	l, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	l.Close()
	if st2, _ := os.Stat(last); st2.Size() > st.Size() {
		t.Fatalf("tail not cut: %d, want <= %d", st2.Size(), st.Size())
	}

	// Now damage the last segment's first record: good records follow.
	os.Remove(filepath.Join(dir, "index.dat"))
	flip(t, last, 12)
	if _, err := filelog.Open(dir, filelog.Options{}); !errors.Is(err, eventlog.ErrCorrupt) {
		t.Fatalf("open with a bad record before good ones: %v, want ErrCorrupt", err)
	}
}

func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 60)
	stale := []string{filepath.Join(dir, "index.dat.tmp123"), filepath.Join(dir, "snapshots", "abc.snap.tmp9")}
	for _, p := range stale {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s left behind (%v)", p, err)
		}
	}
}
