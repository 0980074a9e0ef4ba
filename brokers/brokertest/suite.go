package brokertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/middleware"
)

// Topic is one isolated topic as the suite uses it: where to publish and
// where to subscribe (the same name for log-like brokers; an exchange and a
// queue bound to it for RabbitMQ).
type Topic struct {
	Pub, Sub string
}

// Harness adapts the suite to one adapter.
type Harness struct {
	// New opens a fresh broker for one test; the suite closes it.
	New func(t *testing.T) brokers.Broker
	// Topic makes a new, empty, isolated topic on b (declaring whatever the
	// broker needs) and removes it when the test ends.
	Topic func(t *testing.T, b brokers.Broker) Topic
	// Timeout bounds every wait for a message (default 10s).
	Timeout time.Duration
	// Quiet is how long the suite waits to conclude that nothing more
	// arrives (default 300ms).
	Quiet time.Duration
}

func (h Harness) timeout() time.Duration {
	if h.Timeout <= 0 {
		return 10 * time.Second
	}
	return h.Timeout
}

func (h Harness) quiet() time.Duration {
	if h.Quiet <= 0 {
		return 300 * time.Millisecond
	}
	return h.Quiet
}

// Run runs every conformance test as a subtest of t.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"PublishConsume", testPublishConsume},
		{"PublishBeforeSubscribe", testPublishBeforeSubscribe},
		{"BadInput", testBadInput},
		{"AckNack", testAckNack},
		{"RedeliveryAfterConsumerGone", testRedeliveryAfterConsumerGone},
		{"DeadLetterAfterAttempts", testDeadLetter},
		{"Dedup", testDedup},
		{"OrderingPerKey", testOrdering},
		{"ConsumerGroups", testConsumerGroups},
		{"CloseWhileBusy", testCloseWhileBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func open(t *testing.T, h Harness) brokers.Broker {
	t.Helper()
	b := h.New(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	if err := b.Health(ctx); err != nil {
		t.Fatalf("fresh broker unhealthy: %v", err)
	}
	return b
}

func subscribe(t *testing.T, b brokers.Subscriber, topic string, o brokers.SubscribeOptions) (<-chan *brokers.Delivery, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, topic, o)
	if err != nil {
		cancel()
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	t.Cleanup(cancel)
	return ch, cancel
}

func publish(t *testing.T, h Harness, b brokers.Publisher, topic string, msgs ...*brokers.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	if err := b.Publish(ctx, topic, msgs...); err != nil {
		t.Fatalf("publish %d to %s: %v", len(msgs), topic, err)
	}
}

func next(t *testing.T, h Harness, ch <-chan *brokers.Delivery) *brokers.Delivery {
	t.Helper()
	select {
	case d, ok := <-ch:
		if !ok {
			t.Fatal("subscription channel closed unexpectedly")
		}
		return d
	case <-time.After(h.timeout()):
		t.Fatalf("no delivery within %v", h.timeout())
		return nil
	}
}

func expectNothing(t *testing.T, h Harness, ch <-chan *brokers.Delivery) {
	t.Helper()
	select {
	case d, ok := <-ch:
		if ok {
			t.Fatalf("unexpected delivery %s (attempt %d) payload %q", d.Message.ID, d.Attempt, d.Message.Payload)
		}
	case <-time.After(h.quiet()):
	}
}

func bg() context.Context { return context.Background() }

func numbered(prefix string, n int, key func(int) string) []*brokers.Message {
	msgs := make([]*brokers.Message, n)
	for i := range msgs {
		m := brokers.NewMessage([]byte(prefix + strconv.Itoa(i)))
		if key != nil {
			m.Key = key(i)
		}
		m.SetHeader("seq", strconv.Itoa(i))
		msgs[i] = m
	}
	return msgs
}

func testPublishConsume(t *testing.T, h Harness) {
	b := open(t, h)
	tp := h.Topic(t, b)
	ch, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{})

	full := &brokers.Message{
		ID: "ce-id-1", Key: "k1", Payload: []byte(`{"n":1}`),
		Source: "/orders/service", Type: "com.example.order.created", Subject: "order-1",
		DataContentType: "application/json", Time: time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC),
		Headers: map[string]string{
			brokers.HeaderTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			brokers.HeaderTraceState:  "vendor=value",
			"x-custom":                "yes",
		},
	}
	want := full.Clone()
	msgs := append([]*brokers.Message{full}, numbered("m", 19, nil)...)
	publish(t, h, b, tp.Pub, msgs...)

	seen := map[string]bool{}
	for range msgs {
		d := next(t, h, ch)
		if d.Topic != tp.Sub {
			t.Errorf("delivery topic %q, want %q", d.Topic, tp.Sub)
		}
		if seen[d.Message.ID] {
			t.Errorf("duplicate delivery of %s without any nack", d.Message.ID)
		}
		seen[d.Message.ID] = true
		if d.Message.ID == want.ID {
			checkSame(t, d.Message, want)
		}
		if err := d.Ack(bg()); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	for _, m := range msgs {
		if !seen[m.ID] {
			t.Errorf("message %s never delivered", m.ID)
		}
	}
	if b.Features().Acknowledged {
		expectNothing(t, h, ch)
	}
}

func checkSame(t *testing.T, got, want *brokers.Message) {
	t.Helper()
	if got.ID != want.ID || got.Key != want.Key || string(got.Payload) != string(want.Payload) ||
		got.Source != want.Source || got.Type != want.Type || got.Subject != want.Subject ||
		got.DataContentType != want.DataContentType || !got.Time.Equal(want.Time) {
		t.Errorf("message changed in transit:\n got %+v\nwant %+v", got, want)
	}
	for k, v := range want.Headers {
		if got.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, got.Headers[k], v)
		}
	}
}

func testPublishBeforeSubscribe(t *testing.T, h Harness) {
	b := open(t, h)
	if !b.Features().Persistent {
		t.Skip("adapter is not persistent")
	}
	tp := h.Topic(t, b)
	msgs := numbered("early", 5, nil)
	publish(t, h, b, tp.Pub, msgs...)
	ch, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{})
	got := map[string]bool{}
	for range msgs {
		d := next(t, h, ch)
		got[d.Message.ID] = true
		_ = d.Ack(bg())
	}
	for _, m := range msgs {
		if !got[m.ID] {
			t.Errorf("message %s published before subscribing was lost", m.ID)
		}
	}
}

func testBadInput(t *testing.T, h Harness) {
	b := open(t, h)
	tp := h.Topic(t, b)
	if err := b.Publish(bg(), "", brokers.NewMessage(nil)); !errors.Is(err, brokers.ErrBadInput) {
		t.Errorf("publish to empty topic: %v, want ErrBadInput", err)
	}
	bad := brokers.NewMessage(nil)
	bad.SetHeader(brokers.HeaderTraceParent, "garbage")
	if err := b.Publish(bg(), tp.Pub, bad); !errors.Is(err, brokers.ErrBadInput) {
		t.Errorf("publish with malformed traceparent: %v, want ErrBadInput", err)
	}
	if _, err := b.Subscribe(bg(), "", brokers.SubscribeOptions{}); !errors.Is(err, brokers.ErrBadInput) {
		t.Errorf("subscribe to empty topic: %v, want ErrBadInput", err)
	}
	ctx, cancel := context.WithCancel(bg())
	cancel()
	if err := b.Publish(ctx, tp.Pub, brokers.NewMessage(nil)); err == nil {
		t.Error("publish with a cancelled context succeeded")
	}
	ch, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{})
	publish(t, h, b, tp.Pub, brokers.NewMessage([]byte("x")))
	d := next(t, h, ch)
	if err := d.Ack(bg()); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(bg()); !errors.Is(err, brokers.ErrSettled) {
		t.Errorf("second ack: %v, want ErrSettled", err)
	}
}

func testAckNack(t *testing.T, h Harness) {
	b := open(t, h)
	if !b.Features().Acknowledged {
		t.Skip("adapter does not redeliver")
	}
	tp := h.Topic(t, b)
	ch, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{Prefetch: 1})
	m := brokers.NewMessage([]byte("retry-me"))
	publish(t, h, b, tp.Pub, m)

	d := next(t, h, ch)
	if d.Message.ID != m.ID || d.Attempt != 1 {
		t.Fatalf("first delivery: id %s attempt %d", d.Message.ID, d.Attempt)
	}
	if err := d.Nack(bg(), true); err != nil {
		t.Fatalf("nack requeue: %v", err)
	}
	d = next(t, h, ch)
	if d.Message.ID != m.ID || d.Attempt < 2 {
		t.Fatalf("redelivery: id %s attempt %d, want %s attempt >= 2", d.Message.ID, d.Attempt, m.ID)
	}
	if err := d.Nack(bg(), false); err != nil {
		t.Fatalf("nack drop: %v", err)
	}
	m2 := brokers.NewMessage([]byte("after"))
	publish(t, h, b, tp.Pub, m2)
	d = next(t, h, ch)
	if d.Message.ID != m2.ID {
		t.Fatalf("a message nacked without requeue came back: %s", d.Message.ID)
	}
	_ = d.Ack(bg())
	expectNothing(t, h, ch)
}

func testRedeliveryAfterConsumerGone(t *testing.T, h Harness) {
	b := open(t, h)
	if !b.Features().Acknowledged {
		t.Skip("adapter does not redeliver")
	}
	tp := h.Topic(t, b)
	ch, cancel := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{Group: "g", Consumer: "c1"})
	msgs := numbered("gone", 3, nil)
	publish(t, h, b, tp.Pub, msgs...)
	first := next(t, h, ch)
	_ = first.Ack(bg())
	held := next(t, h, ch) // never acked
	cancel()
	for range ch { // drain: the channel must close after cancel
	}

	ch2, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{Group: "g", Consumer: "c2"})
	want := map[string]bool{}
	for _, m := range msgs[1:] {
		want[m.ID] = true
	}
	if want[first.Message.ID] {
		delete(want, first.Message.ID)
		want[msgs[0].ID] = true
	}
	got := map[string]bool{}
	for len(got) < len(want) {
		d := next(t, h, ch2)
		if d.Message.ID == first.Message.ID {
			t.Fatalf("acked message %s was redelivered", d.Message.ID)
		}
		got[d.Message.ID] = true
		_ = d.Ack(bg())
	}
	if !got[held.Message.ID] {
		t.Fatalf("unacked message %s not redelivered to the next consumer", held.Message.ID)
	}
}

func testDeadLetter(t *testing.T, h Harness) {
	b := open(t, h)
	if !b.Features().Acknowledged {
		t.Skip("adapter does not redeliver")
	}
	tp, dlq := h.Topic(t, b), h.Topic(t, b)
	dch, _ := subscribe(t, b, dlq.Sub, brokers.SubscribeOptions{})
	var calls atomic.Int32
	handler := brokers.Chain(
		middleware.DeadLetter(b, dlq.Pub, middleware.DeadLetterOptions{MaxAttempts: 3}),
	)(func(context.Context, *brokers.Delivery) error {
		calls.Add(1)
		return errors.New("cannot handle")
	})
	ctx, cancel := context.WithCancel(bg())
	done := make(chan error, 1)
	go func() {
		done <- brokers.Serve(ctx, b, tp.Sub, brokers.SubscribeOptions{}, handler, brokers.ServeOptions{})
	}()
	defer func() { cancel(); <-done }()

	m := brokers.NewMessage([]byte("poison"))
	m.SetHeader("x-origin", "test")
	publish(t, h, b, tp.Pub, m)
	d := next(t, h, dch)
	_ = d.Ack(bg())
	if d.Message.ID != m.ID || string(d.Message.Payload) != "poison" || d.Message.Header("x-origin") != "test" {
		t.Fatalf("dead letter lost the original: %+v", d.Message)
	}
	if got := d.Message.Header(middleware.HeaderDLQAttempts); got != "3" {
		t.Errorf("attempts header %q, want 3", got)
	}
	if d.Message.Header(middleware.HeaderDLQError) == "" || d.Message.Header(middleware.HeaderDLQOriginalTopic) != tp.Sub {
		t.Errorf("dead letter headers: %v", d.Message.Headers)
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("handler ran %d times, want 3", c)
	}
	expectNothing(t, h, dch)
}

func testDedup(t *testing.T, h Harness) {
	b := open(t, h)
	tp := h.Topic(t, b)
	var mu sync.Mutex
	count := map[string]int{}
	handler := middleware.Dedup(middleware.NewMemoryStore(), middleware.DedupOptions{Window: time.Minute})(
		func(_ context.Context, d *brokers.Delivery) error {
			mu.Lock()
			count[d.Message.ID]++
			mu.Unlock()
			return nil
		})
	ctx, cancel := context.WithCancel(bg())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		ch, err := b.Subscribe(ctx, tp.Sub, brokers.SubscribeOptions{})
		close(ready)
		if err != nil {
			done <- err
			return
		}
		for d := range ch {
			if err := handler(ctx, d); err == nil {
				_ = d.Ack(bg())
			}
		}
		done <- nil
	}()
	<-ready
	dup := brokers.NewMessage([]byte("once"))
	msgs := []*brokers.Message{dup, dup.Clone(), brokers.NewMessage([]byte("other")), dup.Clone()}
	for _, m := range msgs {
		publish(t, h, b, tp.Pub, m)
	}
	deadline := time.Now().Add(h.timeout())
	for {
		mu.Lock()
		n := len(count)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(h.quiet())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if count[dup.ID] != 1 || count[msgs[2].ID] != 1 {
		t.Fatalf("handled counts %v, want each id once", count)
	}
}

func testOrdering(t *testing.T, h Harness) {
	b := open(t, h)
	if !b.Features().OrderedByKey {
		t.Skip("adapter does not promise ordering per key")
	}
	tp := h.Topic(t, b)
	ch, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{})
	const perKey = 40
	keys := []string{"a", "b", "c"}
	msgs := numbered("o", perKey*len(keys), func(i int) string { return keys[i%len(keys)] })
	for i := 0; i < len(msgs); i += 10 {
		publish(t, h, b, tp.Pub, msgs[i:i+10]...)
	}
	last := map[string]int{}
	for range msgs {
		d := next(t, h, ch)
		seq, _ := strconv.Atoi(d.Message.Header("seq"))
		if p, ok := last[d.Message.Key]; ok && seq <= p {
			t.Fatalf("key %s: seq %d after %d", d.Message.Key, seq, p)
		}
		last[d.Message.Key] = seq
		_ = d.Ack(bg())
	}
}

func testConsumerGroups(t *testing.T, h Harness) {
	b := open(t, h)
	if !b.Features().ConsumerGroups {
		t.Skip("adapter has no consumer groups")
	}
	tp := h.Topic(t, b)
	a1, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{Group: "A", Consumer: "a1"})
	a2, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{Group: "A", Consumer: "a2"})
	bch, _ := subscribe(t, b, tp.Sub, brokers.SubscribeOptions{Group: "B", Consumer: "b1"})
	msgs := numbered("g", 30, func(i int) string { return strconv.Itoa(i) })
	publish(t, h, b, tp.Pub, msgs...)

	collect := func(chs ...<-chan *brokers.Delivery) map[string]int {
		got := map[string]int{}
		deadline := time.After(h.timeout())
		for len(got) < len(msgs) {
			var d *brokers.Delivery
			select {
			case d = <-chs[0]:
			case d = <-chs[len(chs)-1]:
			case <-deadline:
				t.Fatalf("group received %d of %d", len(got), len(msgs))
			}
			if d == nil {
				t.Fatal("subscription closed")
			}
			got[d.Message.ID]++
			_ = d.Ack(bg())
		}
		return got
	}
	gotA := collect(a1, a2)
	gotB := collect(bch)
	for _, m := range msgs {
		if gotA[m.ID] == 0 || gotB[m.ID] == 0 {
			t.Fatalf("message %s missing from a group (A %d, B %d)", m.ID, gotA[m.ID], gotB[m.ID])
		}
	}
}

func testCloseWhileBusy(t *testing.T, h Harness) {
	b := h.New(t)
	tp := h.Topic(t, b)
	var handled atomic.Int32
	started := make(chan struct{}, 1)
	handler := func(ctx context.Context, d *brokers.Delivery) error {
		select {
		case started <- struct{}{}:
		default:
		}
		time.Sleep(20 * time.Millisecond)
		handled.Add(1)
		return nil
	}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		ch, err := b.Subscribe(bg(), tp.Sub, brokers.SubscribeOptions{})
		close(ready)
		if err != nil {
			done <- err
			return
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for d := range ch {
					if handler(bg(), d) == nil {
						_ = d.Ack(bg())
					}
				}
			})
		}
		wg.Wait()
		done <- nil
	}()
	<-ready
	// Publishers keep going while Close runs: each publish must either
	// succeed or fail with ErrClosed (or ErrUnavailable), never hang.
	var pubs sync.WaitGroup
	var afterClose atomic.Bool
	pubErr := make(chan error, 4)
	for w := range 4 {
		pubs.Go(func() {
			for i := 0; ; i++ {
				ctx, cancel := context.WithTimeout(bg(), h.timeout())
				err := b.Publish(ctx, tp.Pub, brokers.NewMessage([]byte(fmt.Sprint(w, "-", i))))
				cancel()
				if err != nil {
					if !errors.Is(err, brokers.ErrClosed) && !errors.Is(err, brokers.ErrUnavailable) {
						pubErr <- err
					}
					return
				}
				if afterClose.Load() {
					return
				}
			}
		})
	}
	select {
	case <-started:
	case <-time.After(h.timeout()):
		t.Fatal("nothing consumed")
	}
	ctx, cancel := context.WithTimeout(bg(), h.timeout())
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("close while busy: %v", err)
	}
	afterClose.Store(true)
	pubs.Wait()
	close(pubErr)
	for err := range pubErr {
		t.Errorf("publish during close failed with an unexpected error: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(h.timeout()):
		t.Fatal("subscription channel not closed by Close")
	}
	if err := b.Publish(bg(), tp.Pub, brokers.NewMessage(nil)); !errors.Is(err, brokers.ErrClosed) {
		t.Errorf("publish after close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(bg(), tp.Sub, brokers.SubscribeOptions{}); !errors.Is(err, brokers.ErrClosed) {
		t.Errorf("subscribe after close: %v, want ErrClosed", err)
	}
	if err := b.Health(bg()); err == nil {
		t.Error("health after close is nil")
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("second close: %v", err)
	}
}
