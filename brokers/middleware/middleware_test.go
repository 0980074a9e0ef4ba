package middleware

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/memory"
)

type nopAck struct{}

func (nopAck) Ack(context.Context) error        { return nil }
func (nopAck) Nack(context.Context, bool) error { return nil }

func delivery(attempt int) *brokers.Delivery {
	m := brokers.NewMessage([]byte("p"))
	m.Key = "k"
	m.SetHeader("h", "v")
	return brokers.NewDelivery("orders", m, attempt, nopAck{})
}

var errBoom = errors.New("boom")

func TestRetry(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		err       error
		wantCalls int
		wantErr   bool
	}{
		{"succeeds first", 0, errBoom, 1, false},
		{"succeeds third", 2, errBoom, 3, false},
		{"gives up", 10, errBoom, 4, true},
		{"permanent not retried", 10, brokers.Permanent(errBoom), 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			h := Retry(RetryOptions{MaxAttempts: 4, Base: time.Millisecond, Max: 2 * time.Millisecond})(
				func(context.Context, *brokers.Delivery) error {
					calls++
					if calls <= tt.failures {
						return tt.err
					}
					return nil
				})
			err := h(context.Background(), delivery(1))
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Fatalf("calls %d err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
			var re *RetryError
			if err != nil && (!errors.As(err, &re) || re.Attempts != tt.wantCalls || !errors.Is(err, errBoom)) {
				t.Fatalf("error %v does not report %d attempts of errBoom", err, tt.wantCalls)
			}
		})
	}
}

func TestRetryStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	h := Retry(RetryOptions{MaxAttempts: 100, Base: time.Hour, Max: time.Hour})(func(context.Context, *brokers.Delivery) error {
		calls++
		cancel()
		return errBoom
	})
	if err := h(ctx, delivery(1)); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err %v calls %d", err, calls)
	}
}

func TestDeadLetter(t *testing.T) {
	ctx := context.Background()
	b := memory.New(memory.Options{})
	t.Cleanup(func() { _ = b.Close(ctx) })
	dlq, cancel := subscribe(t, b, "orders.dlq")
	defer cancel()

	mw := DeadLetter(b, "orders.dlq", DeadLetterOptions{MaxAttempts: 3})
	failing := func(context.Context, *brokers.Delivery) error { return errBoom }

	d := delivery(2)
	if err := mw(failing)(ctx, d); !errors.Is(err, errBoom) || d.DeadLettered() {
		t.Fatalf("attempt 2 of 3 must be returned for a nack, got %v (dead-lettered: %v)", err, d.DeadLettered())
	}
	d = delivery(3)
	if err := mw(Retry(RetryOptions{MaxAttempts: 2, Base: time.Millisecond})(failing))(ctx, d); err != nil || !d.DeadLettered() {
		t.Fatalf("attempt 3 must be dead-lettered (marked for the metrics) and acked, got %v (marked: %v)", err, d.DeadLettered())
	}
	got := receive(t, dlq)
	want := map[string]string{HeaderDLQOriginalTopic: "orders", HeaderDLQAttempts: "3", HeaderDLQHandlerRetries: "2",
		HeaderDLQPermanent: "false", "h": "v"}
	for k, v := range want {
		if got.Message.Header(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Message.Header(k), v)
		}
	}
	if got.Message.ID != d.Message.ID || string(got.Message.Payload) != "p" || got.Message.Key != "k" {
		t.Errorf("dead letter lost the original: %+v", got.Message)
	}
	if got.Message.Header(HeaderDLQError) == "" {
		t.Error("dead letter lacks the error")
	}
	if _, ok := d.Message.Headers[HeaderDLQError]; ok {
		t.Error("dead-lettering modified the delivered message")
	}

	if err := mw(func(context.Context, *brokers.Delivery) error { return brokers.Permanent(errBoom) })(ctx, delivery(1)); err != nil {
		t.Fatalf("permanent error on attempt 1 must be dead-lettered at once: %v", err)
	}
	if p := receive(t, dlq); p.Message.Header(HeaderDLQPermanent) != "true" || p.Message.Header(HeaderDLQAttempts) != "1" {
		t.Errorf("permanent dead letter headers: %v", p.Message.Headers)
	}

	b.FailPublishes(1, nil)
	if err := mw(failing)(ctx, delivery(5)); !errors.Is(err, errBoom) || !errors.Is(err, brokers.ErrUnavailable) {
		t.Fatalf("a failed dead-letter publish must keep the message (nack): %v", err)
	}
}

func subscribe(t *testing.T, b brokers.Subscriber, topic string) (<-chan *brokers.Delivery, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, topic, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ch, cancel
}

func receive(t *testing.T, ch <-chan *brokers.Delivery) *brokers.Delivery {
	t.Helper()
	select {
	case d := <-ch:
		_ = d.Ack(context.Background())
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

func redisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis must run on 127.0.0.1:6379 (apt-get install redis-server): %v", err)
		}
		t.Skipf("no Redis on 127.0.0.1:6379: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestDedup(t *testing.T) {
	stores := map[string]func(t *testing.T) DedupStore{
		"memory": func(*testing.T) DedupStore { return NewMemoryStore() },
		"redis": func(t *testing.T) DedupStore {
			return NewRedisStore(redisClient(t), "wasmesh-test:dedup:"+uuid.NewString()+":")
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			store := mk(t)
			var handled atomic.Int32
			fail := atomic.Bool{}
			h := Dedup(store, DedupOptions{Window: time.Minute})(func(context.Context, *brokers.Delivery) error {
				if fail.Load() {
					return errBoom
				}
				handled.Add(1)
				return nil
			})
			ctx := context.Background()
			d := delivery(1)
			fail.Store(true)
			if err := h(ctx, d); !errors.Is(err, errBoom) {
				t.Fatal(err)
			}
			fail.Store(false)
			// The failed try released its claim: the redelivery runs.
			if err := h(ctx, d); err != nil || handled.Load() != 1 {
				t.Fatalf("redelivery after failure: err %v handled %d", err, handled.Load())
			}
			// A duplicate within the window is skipped and acked.
			if err := h(ctx, d); err != nil || handled.Load() != 1 {
				t.Fatalf("duplicate: err %v handled %d", err, handled.Load())
			}
			// Concurrent duplicates: exactly one runs.
			d2 := delivery(1)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { _ = h(ctx, d2) })
			}
			wg.Wait()
			if handled.Load() != 2 {
				t.Fatalf("concurrent duplicates handled %d times", handled.Load()-1)
			}
		})
	}
}

func TestMemoryStoreExpiry(t *testing.T) {
	s := NewMemoryStore()
	now := time.Unix(0, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	if ok, _ := s.Claim(ctx, "a", time.Second); !ok {
		t.Fatal("first claim")
	}
	_ = s.Commit(ctx, "a", time.Minute)
	now = now.Add(59 * time.Second)
	if ok, _ := s.Claim(ctx, "a", time.Second); ok {
		t.Fatal("claimed inside window")
	}
	now = now.Add(2 * time.Second)
	if ok, _ := s.Claim(ctx, "a", time.Second); !ok {
		t.Fatal("not claimable after window")
	}
}

func TestConcurrencyLimit(t *testing.T) {
	var cur, peak atomic.Int32
	h := Concurrency(3)(func(context.Context, *brokers.Delivery) error {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		cur.Add(-1)
		return nil
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { _ = h(context.Background(), delivery(1)) })
	}
	wg.Wait()
	if peak.Load() != 3 {
		t.Fatalf("peak concurrency %d, want 3", peak.Load())
	}
}

func TestRateLimit(t *testing.T) {
	h := RateLimit(50, 1)(func(context.Context, *brokers.Delivery) error { return nil })
	start := time.Now()
	for range 6 {
		if err := h(context.Background(), delivery(1)); err != nil {
			t.Fatal(err)
		}
	}
	// 1 token of burst, then 5 more at 50/s: at least 100ms must pass.
	if el := time.Since(start); el < 95*time.Millisecond {
		t.Fatalf("6 messages at 50/s took only %v", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := RateLimit(0.001, 1)(func(context.Context, *brokers.Delivery) error { return nil })
	_ = slow(context.Background(), delivery(1))
	if err := slow(ctx, delivery(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting limiter must honour ctx: %v", err)
	}
}

func TestTimeoutRecoverCorrelation(t *testing.T) {
	h := Timeout(20 * time.Millisecond)(func(ctx context.Context, _ *brokers.Delivery) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err := h(context.Background(), delivery(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}

	r := Recover(nil)(func(context.Context, *brokers.Delivery) error { panic("kaboom") })
	var pe *PanicError
	if err := r(context.Background(), delivery(1)); !errors.As(err, &pe) || pe.Value != "kaboom" || len(pe.Stack) == 0 {
		t.Fatalf("recover: %v", err)
	}

	var seen string
	c := CorrelationID()(func(ctx context.Context, _ *brokers.Delivery) error { seen = CorrelationIDFrom(ctx); return nil })
	d := delivery(1)
	_ = c(context.Background(), d)
	if seen != d.Message.ID || d.Message.Header(brokers.HeaderCorrelationID) != d.Message.ID {
		t.Fatalf("correlation from id: %q", seen)
	}
	d = delivery(1)
	d.Message.SetHeader(brokers.HeaderCorrelationID, "corr-1")
	_ = c(context.Background(), d)
	if seen != "corr-1" {
		t.Fatalf("correlation from header: %q", seen)
	}
}

// A publish through TracePublisher and its consumption through Trace make
// one trace: the caller's span, the producer span, and the consumer span,
// each the parent of the next.
func TestTracePublisherToConsumer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("test")
	b := memory.New(memory.Options{})
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	ch, cancel := subscribe(t, b, "orders")
	defer cancel()
	pub := TracePublisher(b, tracer)

	rctx, request := tracer.Start(context.Background(), "request")
	msg := brokers.NewMessage([]byte("p"))
	if err := pub.Publish(rctx, "orders", msg); err != nil {
		t.Fatal(err)
	}
	request.End()
	d := receive(t, ch)
	var inner trace.SpanContext
	h := Trace(tracer)(func(ctx context.Context, _ *brokers.Delivery) error {
		inner = trace.SpanContextFromContext(ctx)
		return errBoom
	})
	_ = h(context.Background(), d)

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = s
	}
	producer, consumer := byName["publish orders"], byName["process orders"]
	if producer == nil || consumer == nil {
		t.Fatalf("want a producer and a consumer span, got %v", byName)
	}
	traceID := request.SpanContext().TraceID()
	for _, s := range []sdktrace.ReadOnlySpan{producer, consumer} {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("span %q is in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
	}
	if producer.Parent().SpanID() != request.SpanContext().SpanID() || producer.SpanKind() != trace.SpanKindProducer {
		t.Errorf("producer span: parent %s kind %s, want child of the request span, producer", producer.Parent().SpanID(), producer.SpanKind())
	}
	if consumer.Parent().SpanID() != producer.SpanContext().SpanID() || consumer.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("consumer span: parent %s kind %s, want child of the producer span %s, consumer",
			consumer.Parent().SpanID(), consumer.SpanKind(), producer.SpanContext().SpanID())
	}
	if !inner.Equal(consumer.SpanContext()) {
		t.Error("the handler's context does not carry the consumer span")
	}
	want := map[string]string{"messaging.system": "memory", "messaging.destination.name": "orders",
		"messaging.operation.name": "publish", "messaging.message.id": msg.ID}
	if got := attrs(producer); !subset(want, got) {
		t.Errorf("producer attributes %v, want at least %v", got, want)
	}
	if got := attrs(consumer); got["messaging.delivery.attempt"] != "1" || consumer.Status().Description != "boom" {
		t.Errorf("consumer span attributes %v status %v", got, consumer.Status())
	}

	// A failed publish ends its span with error status.
	b.FailPublishes(1, nil)
	if err := pub.Publish(context.Background(), "orders", brokers.NewMessage(nil), brokers.NewMessage(nil)); err == nil {
		t.Fatal("injected failure did not fail the publish")
	}
	last := rec.Ended()[len(rec.Ended())-1]
	if last.Name() != "publish orders" || last.Status().Code != codes.Error || attrs(last)["messaging.batch.message_count"] != "2" {
		t.Errorf("failed publish span %s: status %v attributes %v", last.Name(), last.Status(), attrs(last))
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes() {
		out[string(a.Key)] = a.Value.Emit()
	}
	return out
}

func subset(want, got map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestTraceThroughServeNamesTheSystem checks a consumer span made for a
// delivery served by brokers.Serve carries messaging.system, which only
// the broker knows.
func TestTraceThroughServeNamesTheSystem(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	b := memory.New(memory.Options{})
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var once sync.Once
	served := make(chan error, 1)
	go func() {
		served <- brokers.Serve(ctx, b, "audit", brokers.SubscribeOptions{Group: "g"}, Trace(tp.Tracer("test"))(func(context.Context, *brokers.Delivery) error {
			once.Do(func() { close(done) })
			return nil
		}), brokers.ServeOptions{})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := b.Publish(ctx, "audit", brokers.NewMessage([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no delivery reached the handler")
			}
			continue
		}
		break
	}
	cancel()
	<-served
	var consumer sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "process audit" {
			consumer = s
		}
	}
	if consumer == nil {
		t.Fatal("no consumer span")
	}
	want := map[string]string{"messaging.system": "memory", "messaging.operation.name": "process", "messaging.destination.name": "audit"}
	if got := attrs(consumer); !subset(want, got) {
		t.Errorf("consumer span attributes %v, want at least %v", got, want)
	}
}
