package middleware

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
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

	if err := mw(failing)(ctx, delivery(2)); !errors.Is(err, errBoom) {
		t.Fatalf("attempt 2 of 3 must be returned for a nack, got %v", err)
	}
	d := delivery(3)
	if err := mw(Retry(RetryOptions{MaxAttempts: 2, Base: time.Millisecond})(failing))(ctx, d); err != nil {
		t.Fatalf("attempt 3 must be dead-lettered and acked, got %v", err)
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

func TestTraceContinuesPublisherTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("test")

	pctx, pspan := tracer.Start(context.Background(), "publish")
	d := delivery(2)
	InjectTrace(pctx, d.Message)
	pspan.End()
	if d.Message.TraceParent() == "" {
		t.Fatal("no traceparent injected")
	}
	var inner trace.SpanContext
	h := Trace(tracer)(func(ctx context.Context, _ *brokers.Delivery) error {
		inner = trace.SpanContextFromContext(ctx)
		return errBoom
	})
	_ = h(context.Background(), d)
	if inner.TraceID() != pspan.SpanContext().TraceID() {
		t.Fatalf("consumer span in trace %s, publisher in %s", inner.TraceID(), pspan.SpanContext().TraceID())
	}
	spans := rec.Ended()
	last := spans[len(spans)-1]
	if last.Name() != "process orders" || last.Parent().SpanID() != pspan.SpanContext().SpanID() || last.Status().Description != "boom" {
		t.Fatalf("span %s parent %s status %v", last.Name(), last.Parent().SpanID(), last.Status())
	}
	found := false
	for _, a := range last.Attributes() {
		if a.Key == "messaging.delivery.attempt" && strconv.Itoa(int(a.Value.AsInt64())) == "2" {
			found = true
		}
	}
	if !found {
		t.Fatal("attempt attribute missing")
	}
}
