package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/backoff"
)

// RetryOptions configure Retry.
type RetryOptions struct {
	// MaxAttempts is how many times the handler runs per delivery, the first
	// included (default 3).
	MaxAttempts int
	// Base and Max bound the full-jitter exponential backoff (default 100ms, 5s).
	Base, Max time.Duration
	// Retryable decides whether an error is worth another try; nil means
	// every error that is not brokers.Permanent.
	Retryable func(error) bool
}

// RetryError reports that Retry gave up; Attempts says how many tries ran.
// DeadLetter records it in the dead-letter message.
type RetryError struct {
	Attempts int
	Err      error
}

// Error says how many attempts ran and the last error.
func (e *RetryError) Error() string { return fmt.Sprintf("after %d attempts: %v", e.Attempts, e.Err) }

// Unwrap keeps errors.Is and brokers.IsPermanent working through it.
func (e *RetryError) Unwrap() error { return e.Err }

// Retry runs the handler again, in process, after a failure, waiting an
// exponential backoff with full jitter between tries, so that transient
// failures (a dependency restarting) do not bounce the message through the
// broker. It stops early on a Permanent error or when ctx ends.
func Retry(o RetryOptions) brokers.Middleware {
	if o.MaxAttempts < 1 {
		o.MaxAttempts = 3
	}
	if o.Base <= 0 {
		o.Base = 100 * time.Millisecond
	}
	if o.Max <= 0 {
		o.Max = 5 * time.Second
	}
	retryable := o.Retryable
	if retryable == nil {
		retryable = func(err error) bool { return !brokers.IsPermanent(err) }
	}
	pol := backoff.Policy{Base: o.Base, Max: o.Max}
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) error {
			var err error
			for n := 1; ; n++ {
				if err = next(ctx, d); err == nil {
					return nil
				}
				if n >= o.MaxAttempts || !retryable(err) {
					return &RetryError{Attempts: n, Err: err}
				}
				if serr := backoff.Sleep(ctx, pol.Delay(n-1)); serr != nil {
					return &RetryError{Attempts: n, Err: errors.Join(err, serr)}
				}
			}
		}
	}
}
