package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Opener opens the same underlying store each time it is called (the same
// directory, the same schema), so the suite can close and reopen it. The
// suite closes what it opens.
type Opener func(t *testing.T) eventlog.Store

// Run runs the whole suite. newStore is called once per sub-test and must
// return an Opener for a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"AppendAndReadStream", testAppendAndRead},
		{"ExpectedVersion", testExpectedVersion},
		{"InvalidAppends", testInvalid},
		{"RacingWritersOneStream", testRacingWriters},
		{"RacingNoStream", testRacingNoStream},
		{"IdempotentRetry", testIdempotent},
		{"GlobalOrder", testGlobalOrder},
		{"NoGapsVisibleToReaders", testNoGapsVisible},
		{"SubscribeCatchUpAndLive", testSubscribeFilters},
		{"SubscribeAcrossReopen", testSubscribeAcrossReopen},
		{"SubscribeHandlerErrorResumes", testSubscribeHandlerError},
		{"Checkpoints", testCheckpoints},
		{"Snapshots", testSnapshots},
		{"LoaderWithSnapshots", testLoader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open := newStore(t)
			tc.fn(t, open)
		})
	}
}

func openAndClose(t *testing.T, open Opener) eventlog.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func evs(n int, typ string) []eventlog.Event {
	out := make([]eventlog.Event, n)
	for i := range out {
		out[i] = eventlog.NewEvent(typ, []byte(fmt.Sprintf(`{"n":%d}`, i)))
	}
	return out
}

func mustAppend(t *testing.T, s eventlog.Store, stream string, exp eventlog.ExpectedVersion, e ...eventlog.Event) eventlog.AppendResult {
	t.Helper()
	r, err := s.Append(ctxT(t), stream, exp, e...)
	if err != nil {
		t.Fatalf("Append(%q, %s): %v", stream, exp, err)
	}
	return r
}

func testAppendAndRead(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := eventlog.WithCausationID(eventlog.WithCorrelationID(ctxT(t), "corr-1"), "cause-1")
	in := evs(5, "Thing")
	in[2].Metadata = map[string]string{"tenant": "t1"}
	in[3].SchemaVersion = 3
	in[4].Data = nil
	before := time.Now().Add(-time.Second)
	r, err := s.Append(ctx, "thing-1", eventlog.NoStream, in...)
	if err != nil {
		t.Fatal(err)
	}
	if r.FirstVersion != 1 || r.LastVersion != 5 || r.LastPosition-r.FirstPosition != 4 || r.FirstPosition < 1 {
		t.Fatalf("result = %+v, want versions 1..5 and 5 consecutive positions", r)
	}
	got, err := s.ReadStream(ctx, "thing-1", 1, eventlog.Forward, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("read %d events, want 5", len(got))
	}
	for i, e := range got {
		if e.Version != int64(i+1) || e.Position != r.FirstPosition+int64(i) || e.Stream != "thing-1" || e.Type != "Thing" {
			t.Errorf("event %d = %+v", i, e)
		}
		if e.ID.Version() != 7 {
			t.Errorf("event %d id %s is not a UUIDv7", i, e.ID)
		}
		if e.CorrelationID != "corr-1" || e.CausationID != "cause-1" {
			t.Errorf("event %d correlation %q causation %q, want corr-1 cause-1", i, e.CorrelationID, e.CausationID)
		}
		if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d time %v out of range", i, e.Time)
		}
		if i < 4 && string(e.Data) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Errorf("event %d data %q", i, e.Data)
		}
	}
	if got[2].Metadata["tenant"] != "t1" || len(got[2].Metadata) != 1 {
		t.Errorf("metadata = %v", got[2].Metadata)
	}
	if got[3].SchemaVersion != 3 || got[0].SchemaVersion != 1 {
		t.Errorf("schema versions %d, %d want 3, 1", got[3].SchemaVersion, got[0].SchemaVersion)
	}
	if len(got[4].Data) != 0 {
		t.Errorf("nil data read back as %q", got[4].Data)
	}

	back, err := s.ReadStream(ctx, "thing-1", eventlog.StreamEnd, eventlog.Backward, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].Version != 5 || back[1].Version != 4 {
		t.Fatalf("backward read = %v", versions(back))
	}
	back, _ = s.ReadStream(ctx, "thing-1", 3, eventlog.Backward, 10)
	if fmt.Sprint(versions(back)) != "[3 2 1]" {
		t.Fatalf("backward from 3 = %v", versions(back))
	}
	fwd, _ := s.ReadStream(ctx, "thing-1", 4, eventlog.Forward, 10)
	if fmt.Sprint(versions(fwd)) != "[4 5]" {
		t.Fatalf("forward from 4 = %v", versions(fwd))
	}
	fwd, _ = s.ReadStream(ctx, "thing-1", 2, eventlog.Forward, 2)
	if fmt.Sprint(versions(fwd)) != "[2 3]" {
		t.Fatalf("forward from 2 limit 2 = %v", versions(fwd))
	}
	none, err := s.ReadStream(ctx, "missing-1", 1, eventlog.Forward, 10)
	if err != nil || len(none) != 0 {
		t.Fatalf("missing stream read = %v, %v", none, err)
	}

	// Without ids in the context an event starts its own chain.
	r2 := mustAppend(t, s, "thing-2", eventlog.Any, evs(1, "Other")...)
	e2, _ := s.ReadAll(ctx, r2.FirstPosition, 1)
	if len(e2) != 1 || e2[0].CorrelationID != e2[0].ID.String() || e2[0].CausationID != "" {
		t.Fatalf("event without context ids = %+v", e2)
	}
}

func versions(es []eventlog.Event) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Version
	}
	return out
}

func testExpectedVersion(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	mustAppend(t, s, "ev-1", eventlog.NoStream, evs(2, "A")...)
	for _, tc := range []struct {
		exp    eventlog.ExpectedVersion
		ok     bool
		actual int64
	}{
		{eventlog.NoStream, false, 2},
		{eventlog.Exact(1), false, 2},
		{eventlog.Exact(3), false, 2},
		{eventlog.Exact(2), true, 0},
		{eventlog.Any, true, 0},
		{eventlog.Exact(3), false, 4},
		{eventlog.Exact(4), true, 0},
	} {
		_, err := s.Append(ctx, "ev-1", tc.exp, evs(1, "A")...)
		if tc.ok {
			if err != nil {
				t.Fatalf("append expecting %s: %v", tc.exp, err)
			}
			continue
		}
		var ce *eventlog.ConcurrencyError
		if !errors.As(err, &ce) || !errors.Is(err, eventlog.ErrConcurrency) {
			t.Fatalf("append expecting %s: err = %v, want *ConcurrencyError", tc.exp, err)
		}
		if ce.Actual != tc.actual || ce.Stream != "ev-1" || ce.Expected != tc.exp {
			t.Fatalf("conflict = %+v, want actual %d", ce, tc.actual)
		}
	}
	got, _ := s.ReadStream(ctx, "ev-1", 1, eventlog.Forward, 100)
	if len(got) != 5 {
		t.Fatalf("stream has %d events, want 5 (failed appends must write nothing)", len(got))
	}
	if _, err := s.Append(ctx, "ev-new", eventlog.Exact(1), evs(1, "A")...); !errors.Is(err, eventlog.ErrConcurrency) {
		t.Fatalf("Exact(1) on a missing stream: %v, want conflict", err)
	}
}

func testInvalid(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	id := uuid.Must(uuid.NewV7())
	for name, call := range map[string]func() error{
		"empty stream": func() error { _, err := s.Append(ctx, "", eventlog.Any, evs(1, "A")...); return err },
		"no events":    func() error { _, err := s.Append(ctx, "x-1", eventlog.Any); return err },
		"no type":      func() error { _, err := s.Append(ctx, "x-1", eventlog.Any, eventlog.Event{}); return err },
		"dup ids": func() error {
			_, err := s.Append(ctx, "x-1", eventlog.Any, eventlog.Event{ID: id, Type: "A"}, eventlog.Event{ID: id, Type: "A"})
			return err
		},
	} {
		if err := call(); !errors.Is(err, eventlog.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if h, _ := s.Head(ctx); h != 0 {
		t.Fatalf("invalid appends moved head to %d", h)
	}
}

// testRacingWriters: many goroutines read-modify-append one stream with exact
// expected versions, retrying on conflict. Every conflict must be typed, no
// version may be written twice, and every writer's events must land.
func testRacingWriters(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	const writers, each = 16, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				last, err := s.ReadStream(ctx, "race-1", eventlog.StreamEnd, eventlog.Backward, 1)
				if err != nil {
					errs <- err
					return
				}
				var v int64
				if len(last) == 1 {
					v = last[0].Version
				}
				e := eventlog.NewEvent("Inc", []byte(fmt.Sprintf("%d/%d", w, i)))
				_, err = s.Append(ctx, "race-1", eventlog.Exact(v), e)
				switch {
				case err == nil:
					i++
				case errors.Is(err, eventlog.ErrConcurrency):
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, "race-1", 1, eventlog.Forward, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Fatalf("stream has %d events, want %d", len(got), writers*each)
	}
	seen := map[string]bool{}
	for i, e := range got {
		if e.Version != int64(i+1) {
			t.Fatalf("event %d has version %d", i, e.Version)
		}
		if seen[string(e.Data)] {
			t.Fatalf("payload %s stored twice", e.Data)
		}
		seen[string(e.Data)] = true
	}
	t.Logf("%d conflicts among %d writers", conflicts, writers)
}

func testRacingNoStream(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	const n = 20
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, "create-1", eventlog.NoStream, evs(2, "Created")...)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, eventlog.ErrConcurrency):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d NoStream appends succeeded, want exactly 1", ok)
	}
	got, _ := s.ReadStream(ctx, "create-1", 1, eventlog.Forward, 100)
	if len(got) != 2 {
		t.Fatalf("stream has %d events, want 2", len(got))
	}
}

func testIdempotent(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	batch := evs(3, "Paid")
	for i := range batch {
		batch[i].ID = uuid.Must(uuid.NewV7())
	}
	mustAppend(t, s, "pay-1", eventlog.NoStream, evs(1, "Opened")...)
	first := mustAppend(t, s, "pay-1", eventlog.Exact(1), batch...)
	mustAppend(t, s, "pay-2", eventlog.Any, evs(2, "Other")...)

	// A retry (even with the now-stale expected version) returns the
	// original result and writes nothing.
	for _, exp := range []eventlog.ExpectedVersion{eventlog.Exact(1), eventlog.Any, eventlog.NoStream} {
		again, err := s.Append(ctx, "pay-1", exp, batch...)
		if err != nil {
			t.Fatalf("retry expecting %s: %v", exp, err)
		}
		if again != first {
			t.Fatalf("retry result %+v, want original %+v", again, first)
		}
	}
	got, _ := s.ReadStream(ctx, "pay-1", 1, eventlog.Forward, 100)
	if len(got) != 4 {
		t.Fatalf("stream has %d events after retries, want 4", len(got))
	}
	for i, e := range got[1:] {
		if e.ID != batch[i].ID {
			t.Fatalf("event %d id %s, want %s", i+1, e.ID, batch[i].ID)
		}
	}
	head, _ := s.Head(ctx)
	if head != 6 {
		t.Fatalf("head = %d, want 6", head)
	}
	// Reusing an id elsewhere, or only part of the batch, is an error.
	if _, err := s.Append(ctx, "pay-3", eventlog.Any, batch...); !errors.Is(err, eventlog.ErrDuplicateEvent) {
		t.Fatalf("same ids in another stream: %v, want ErrDuplicateEvent", err)
	}
	if _, err := s.Append(ctx, "pay-1", eventlog.Any, batch[0], batch[2]); !errors.Is(err, eventlog.ErrDuplicateEvent) {
		t.Fatalf("stored ids out of their order: %v, want ErrDuplicateEvent", err)
	}
	// A contiguous run of stored events is a retry of those events.
	tail, err := s.Append(ctx, "pay-1", eventlog.Any, batch[1:]...)
	if err != nil || tail.FirstVersion != 3 || tail.LastVersion != 4 || tail.LastPosition != first.LastPosition {
		t.Fatalf("retry of the batch's tail = %+v, %v; want versions 3..4", tail, err)
	}
	mixed := append([]eventlog.Event{eventlog.NewEvent("New", nil)}, batch[0])
	if _, err := s.Append(ctx, "pay-1", eventlog.Any, mixed...); !errors.Is(err, eventlog.ErrDuplicateEvent) {
		t.Fatalf("new event plus stored id: %v, want ErrDuplicateEvent", err)
	}
	if h, _ := s.Head(ctx); h != 6 {
		t.Fatalf("rejected appends moved head to %d", h)
	}

	// Concurrent retries of one append: exactly one write.
	one := eventlog.Event{ID: uuid.Must(uuid.NewV7()), Type: "Once"}
	var wg sync.WaitGroup
	res := make(chan eventlog.AppendResult, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Append(ctx, "once-1", eventlog.Any, one)
			if err != nil {
				t.Errorf("concurrent retry: %v", err)
				return
			}
			res <- r
		}()
	}
	wg.Wait()
	close(res)
	var want eventlog.AppendResult
	for r := range res {
		if want == (eventlog.AppendResult{}) {
			want = r
		}
		if r != want {
			t.Fatalf("concurrent retries returned %+v and %+v", want, r)
		}
	}
	if got, _ := s.ReadStream(ctx, "once-1", 1, eventlog.Forward, 10); len(got) != 1 {
		t.Fatalf("concurrent retries wrote %d events", len(got))
	}

	// Survives a reopen.
	_ = s.Close()
	s2 := openAndClose(t, open)
	again, err := s2.Append(ctx, "pay-1", eventlog.Any, batch...)
	if err != nil || again != first {
		t.Fatalf("retry after reopen = %+v, %v; want %+v", again, err, first)
	}
}

func testGlobalOrder(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	const writers, each = 8, 15
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("ord-%d", w%3), eventlog.Any, evs(2, "E")...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := int64(writers * each * 2)
	head, err := s.Head(ctx)
	if err != nil || head != total {
		t.Fatalf("head = %d, %v; want %d", head, err, total)
	}
	var all []eventlog.Event
	for from := int64(1); ; {
		page, err := s.ReadAll(ctx, from, 37)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		from = page[len(page)-1].Position + 1
	}
	if int64(len(all)) != total {
		t.Fatalf("ReadAll returned %d events, want %d", len(all), total)
	}
	lastVersion := map[string]int64{}
	for i, e := range all {
		if e.Position != int64(i+1) {
			t.Fatalf("event %d has position %d: the global order has a gap or repeat", i, e.Position)
		}
		if e.Version != lastVersion[e.Stream]+1 {
			t.Fatalf("stream %s: version %d after %d in global order", e.Stream, e.Version, lastVersion[e.Stream])
		}
		lastVersion[e.Stream] = e.Version
	}
	mid, _ := s.ReadAll(ctx, 100, 5)
	if len(mid) != 5 || mid[0].Position != 100 {
		t.Fatalf("ReadAll(100, 5) = %d events starting %v", len(mid), mid)
	}
	if past, _ := s.ReadAll(ctx, total+1, 5); len(past) != 0 {
		t.Fatalf("ReadAll past head returned %d events", len(past))
	}
}

// collector gathers subscription deliveries.
type collector struct {
	mu  sync.Mutex
	got []eventlog.Event
	ch  chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) handle(_ context.Context, e eventlog.Event) error {
	c.mu.Lock()
	c.got = append(c.got, e)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) events() []eventlog.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventlog.Event(nil), c.got...)
}

// waitFor waits until the collector has n events.
func (c *collector) waitFor(t *testing.T, n int) []eventlog.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if got := c.events(); len(got) >= n {
			return got
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("subscription delivered %d events, want %d", len(c.events()), n)
		}
	}
}

func subscribe(t *testing.T, s eventlog.Store, opts eventlog.SubscribeOptions, c *collector) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, opts, c.handle) }()
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe(%+v) returned %v", opts, err)
		}
	}
}

func testSubscribeFilters(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	mustAppend(t, s, "cart-1", eventlog.Any, evs(3, "C")...)
	mustAppend(t, s, "user-1", eventlog.Any, evs(2, "U")...)
	mustAppend(t, s, "cart-2", eventlog.Any, evs(1, "C")...)

	all, one, cat, from := newCollector(), newCollector(), newCollector(), newCollector()
	stops := []func(){
		subscribe(t, s, eventlog.SubscribeOptions{}, all),
		subscribe(t, s, eventlog.SubscribeOptions{Filter: eventlog.StreamFilter("cart-1")}, one),
		subscribe(t, s, eventlog.SubscribeOptions{Filter: eventlog.CategoryFilter("cart")}, cat),
		subscribe(t, s, eventlog.SubscribeOptions{From: 4}, from),
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	all.waitFor(t, 6)
	// Live: appended after the subscriptions are caught up.
	mustAppend(t, s, "cart-1", eventlog.Any, evs(2, "C")...)
	mustAppend(t, s, "user-1", eventlog.Any, evs(1, "U")...)
	mustAppend(t, s, "cart-3", eventlog.Any, evs(1, "C")...)

	check := func(name string, c *collector, want int, match func(eventlog.Event) bool) {
		got := c.waitFor(t, want)
		time.Sleep(50 * time.Millisecond) // let any extra (wrong) delivery arrive
		got = c.events()
		if len(got) != want {
			t.Errorf("%s: %d events, want %d", name, len(got), want)
		}
		for i, e := range got {
			if !match(e) || (i > 0 && e.Position <= got[i-1].Position) {
				t.Errorf("%s: event %d (%s v%d @%d) out of filter or order", name, i, e.Stream, e.Version, e.Position)
			}
		}
	}
	check("all", all, 10, func(eventlog.Event) bool { return true })
	check("stream", one, 5, func(e eventlog.Event) bool { return e.Stream == "cart-1" })
	check("category", cat, 7, func(e eventlog.Event) bool { return eventlog.Category(e.Stream) == "cart" })
	check("from 4", from, 6, func(e eventlog.Event) bool { return e.Position > 4 })
}

// testSubscribeAcrossReopen: a named subscriber consumes while writers
// append, the store is closed and reopened, and the subscriber resumes from
// its stored checkpoint. Every event must be delivered; the only repeats
// allowed are after the stored checkpoint (at least once).
func testSubscribeAcrossReopen(t *testing.T, open Opener) {
	s := open(t)
	opts := eventlog.SubscribeOptions{Name: "proj-1", Filter: eventlog.CategoryFilter("acct")}
	c1 := newCollector()
	stop := subscribe(t, s, opts, c1)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				stream := fmt.Sprintf("acct-%d", w)
				if i%5 == 0 {
					stream = fmt.Sprintf("noise-%d", w)
				}
				if _, err := s.Append(ctxT(t), stream, eventlog.Any, evs(1, "E")...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c1.waitFor(t, 40) // let it consume part or all, then stop mid-way
	stop()
	cp, err := s.Checkpoint(ctxT(t), "proj-1")
	if err != nil || cp == 0 {
		t.Fatalf("checkpoint after first run = %d, %v", cp, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s2 := openAndClose(t, open)
	if cp2, _ := s2.Checkpoint(ctxT(t), "proj-1"); cp2 != cp {
		t.Fatalf("checkpoint after reopen = %d, want %d", cp2, cp)
	}
	mustAppend(t, s2, "acct-9", eventlog.Any, evs(5, "E")...)
	c2 := newCollector()
	stop2 := subscribe(t, s2, opts, c2)
	defer stop2()
	// 4 writers x 20 acct events + 5 = 85 acct events in all.
	const want = 85
	deadline := time.After(30 * time.Second)
	for {
		seen := map[int64]bool{}
		for _, e := range c1.events() {
			if e.Position <= cp {
				seen[e.Position] = true
			}
		}
		for _, e := range c2.events() {
			if e.Position <= cp {
				t.Fatalf("resumed subscriber re-delivered position %d at or before its checkpoint %d", e.Position, cp)
			}
			seen[e.Position] = true
		}
		if len(seen) == want {
			break
		}
		select {
		case <-c2.ch:
		case <-deadline:
			t.Fatalf("delivered %d distinct acct events across the restart, want %d", len(seen), want)
		}
	}
	head, _ := s2.Head(ctxT(t))
	all, _ := s2.ReadAll(ctxT(t), 1, int(head))
	n := 0
	for _, e := range all {
		if eventlog.Category(e.Stream) == "acct" {
			n++
		}
	}
	if n != want {
		t.Fatalf("store holds %d acct events, want %d", n, want)
	}
}

func testSubscribeHandlerError(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	mustAppend(t, s, "h-1", eventlog.Any, evs(5, "E")...)
	boom := errors.New("boom")
	var seen []int64
	err := s.Subscribe(ctxT(t), eventlog.SubscribeOptions{Name: "fails"}, func(_ context.Context, e eventlog.Event) error {
		if e.Version == 3 {
			return boom
		}
		seen = append(seen, e.Version)
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Subscribe returned %v, want the handler's error", err)
	}
	if cp, _ := s.Checkpoint(ctxT(t), "fails"); cp != 2 {
		t.Fatalf("checkpoint = %d, want 2 (the last handled event)", cp)
	}
	c := newCollector()
	stop := subscribe(t, s, eventlog.SubscribeOptions{Name: "fails"}, c)
	got := c.waitFor(t, 3)
	stop()
	if fmt.Sprint(versions(got)) != "[3 4 5]" {
		t.Fatalf("resumed delivery = %v, want [3 4 5]", versions(got))
	}
}

func testCheckpoints(t *testing.T, open Opener) {
	s := open(t)
	ctx := ctxT(t)
	if cp, err := s.Checkpoint(ctx, "none"); err != nil || cp != 0 {
		t.Fatalf("missing checkpoint = %d, %v", cp, err)
	}
	for _, p := range []int64{5, 17, 0, 42} {
		if err := s.SaveCheckpoint(ctx, "cp", p); err != nil {
			t.Fatal(err)
		}
		if cp, _ := s.Checkpoint(ctx, "cp"); cp != p {
			t.Fatalf("checkpoint = %d, want %d", cp, p)
		}
	}
	_ = s.SaveCheckpoint(ctx, "other", 7)
	_ = s.Close()
	s2 := openAndClose(t, open)
	if cp, _ := s2.Checkpoint(ctx, "cp"); cp != 42 {
		t.Fatalf("checkpoint after reopen = %d, want 42", cp)
	}
	if cp, _ := s2.Checkpoint(ctx, "other"); cp != 7 {
		t.Fatalf("other checkpoint after reopen = %d, want 7", cp)
	}
}

func testSnapshots(t *testing.T, open Opener) {
	s := open(t)
	ctx := ctxT(t)
	if _, ok, err := s.LoadSnapshot(ctx, "snap-1"); ok || err != nil {
		t.Fatalf("missing snapshot: ok=%v err=%v", ok, err)
	}
	for _, v := range []int64{10, 20} {
		err := s.SaveSnapshot(ctx, eventlog.Snapshot{Stream: "snap-1", Version: v, SchemaVersion: 2, Data: []byte(fmt.Sprint(v))})
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = s.SaveSnapshot(ctx, eventlog.Snapshot{Stream: "snap-2", Version: 1, SchemaVersion: 1, Data: []byte("x")})
	_ = s.Close()
	s2 := openAndClose(t, open)
	snap, ok, err := s2.LoadSnapshot(ctx, "snap-1")
	if err != nil || !ok {
		t.Fatalf("LoadSnapshot: ok=%v err=%v", ok, err)
	}
	if snap.Version != 20 || snap.SchemaVersion != 2 || string(snap.Data) != "20" || snap.Stream != "snap-1" || snap.Time.IsZero() {
		t.Fatalf("snapshot = %+v, want version 20 schema 2 data 20", snap)
	}
	if snap2, ok, _ := s2.LoadSnapshot(ctx, "snap-2"); !ok || string(snap2.Data) != "x" {
		t.Fatalf("snap-2 = %+v, %v", snap2, ok)
	}
}

// testNoGapsVisible tails the global log while writers append: every page a
// reader gets must start exactly where it asked and run without holes, so a
// reader that advances its position never skips an event committed later.
func testNoGapsVisible(t *testing.T, open Opener) {
	s := openAndClose(t, open)
	ctx := ctxT(t)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("gap-%d", w), eventlog.Any, evs(1+i%2, "E")...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var next int64 = 1
	total := int64(writers * (each/2*3 + each%2))
	for next <= total {
		page, err := s.ReadAll(ctx, next, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Position != next {
				t.Fatalf("reader asked from %d and got position %d: a gap was visible", next, e.Position)
			}
			next++
		}
		if len(page) == 0 {
			select {
			case <-done:
				if h, _ := s.Head(ctx); next > h {
					t.Fatalf("read up to %d, head %d, want %d", next-1, h, total)
				}
			default:
			}
		}
	}
	<-done
}
