package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff policy. The zero value uses 100ms and 10s.
type Policy struct {
	Base time.Duration // first ceiling, default 100ms
	Max  time.Duration // largest ceiling, default 10s
}

// Ceiling returns the upper bound of the wait before retry n (n from 0).
func (p Policy) Ceiling(n int) time.Duration {
	base, maxD := p.Base, p.Max
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if maxD <= 0 {
		maxD = 10 * time.Second
	}
	d := base
	for i := 0; i < n && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

// Delay returns a full-jitter wait before retry n: uniform in [0, Ceiling(n)].
func (p Policy) Delay(n int) time.Duration {
	c := p.Ceiling(n)
	if c <= 0 {
		return 0
	}
	return rand.N(c + 1)
}

// Sleep waits d or until ctx is done, returning ctx.Err() in the latter case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
