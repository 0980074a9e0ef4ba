package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

// RateLimit lets at most perSecond messages start per second on average,
// with bursts of up to burst (at least 1), by waiting before the handler:
// a token bucket shared by every goroutine using the returned middleware.
// It protects a downstream that cannot take the broker's full rate.
func RateLimit(perSecond float64, burst int) brokers.Middleware {
	if burst < 1 {
		burst = 1
	}
	tb := &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: time.Now()}
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) error {
			if err := tb.wait(ctx); err != nil {
				return fmt.Errorf("rate limit: %w", err)
			}
			return next(ctx, d)
		}
	}
}

type bucket struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
}

// wait takes one token, sleeping until one is available. A reservation is
// taken first (tokens may go negative), so waiters are served in order.
func (b *bucket) wait(ctx context.Context) error {
	if b.rate <= 0 {
		return nil
	}
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		b.tokens++ // give the reservation back
		b.mu.Unlock()
		return ctx.Err()
	}
}

// Concurrency lets at most n handlers run at once across all goroutines
// using the returned middleware (Serve's Concurrency bounds one
// subscription; this bounds several sharing a downstream).
func Concurrency(n int) brokers.Middleware {
	if n < 1 {
		n = 1
	}
	sem := make(chan struct{}, n)
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) error {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return fmt.Errorf("concurrency limit: %w", ctx.Err())
			}
			defer func() { <-sem }()
			return next(ctx, d)
		}
	}
}

// Timeout bounds each handler run with a context deadline, so a stuck
// handler does not hold its delivery (and the prefetch slot) forever. The
// handler must honour ctx for this to take effect.
func Timeout(d time.Duration) brokers.Middleware {
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, dl *brokers.Delivery) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, dl)
		}
	}
}

// PanicError is the error Recover returns for a handler panic.
type PanicError struct {
	Value any
	Stack []byte
}

// Error reports the panic value; the stack is in Stack.
func (p *PanicError) Error() string { return fmt.Sprintf("handler panic: %v", p.Value) }

// Recover turns a handler panic into an error (the delivery is nacked and
// retried or dead-lettered like any failure) instead of killing the
// consumer process. The panic and its stack are logged; nil log means
// slog.Default().
func Recover(log *slog.Logger) brokers.Middleware {
	if log == nil {
		log = slog.Default()
	}
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) (err error) {
			defer func() {
				if v := recover(); v != nil {
					pe := &PanicError{Value: v, Stack: debug.Stack()}
					log.Error("brokers: handler panic", "topic", d.Topic, "id", d.Message.ID, "panic", v, "stack", string(pe.Stack))
					err = pe
				}
			}()
			return next(ctx, d)
		}
	}
}
