package backoff

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Policy is exponential backoff with full jitter (the AWS architecture
// blog's "full jitter"): the n-th retry waits a uniformly random time in
// [0, min(Max, Base·2ⁿ)).
type Policy struct {
	Base time.Duration
	Max  time.Duration
	// Rand returns a float in [0,1); nil means math/rand/v2.
	Rand func() float64
}

// Ceiling is the upper bound of the delay before retry n (n from 0).
func (p Policy) Ceiling(n int) time.Duration {
	if p.Base <= 0 {
		return 0
	}
	c := p.Base
	for i := 0; i < n; i++ {
		if p.Max > 0 && c >= p.Max {
			break
		}
		if c > time.Duration(1<<62)/2 { // no overflow
			break
		}
		c *= 2
	}
	if p.Max > 0 && c > p.Max {
		c = p.Max
	}
	return c
}

// Delay is the jittered delay before retry n (n from 0).
func (p Policy) Delay(n int) time.Duration {
	c := p.Ceiling(n)
	if c <= 0 {
		return 0
	}
	r := p.Rand
	if r == nil {
		r = rand.Float64
	}
	return time.Duration(r() * float64(c))
}

// Budget caps retries at a share of requests (Finagle's and Envoy's retry
// budget): every request deposits Ratio of a token, a retry withdraws one,
// and MinPerSecond tokens are granted each second so that a quiet client
// can still retry. The balance is capped so a long calm does not bank a
// retry storm. Tokens are counted in thousandths, so 10 requests at 0.2
// make exactly 2 retries.
type Budget struct {
	ratio  int64 // milli-tokens per request
	min    int64 // tokens per second
	cap    int64 // milli-tokens
	now    func() time.Time
	mu     sync.Mutex
	tokens int64 // milli-tokens
	last   time.Time
}

const unit = 1000

// NewBudget makes a budget; ratio 0.2 lets retries add at most 20% load.
// now may be nil.
func NewBudget(ratio float64, minPerSecond int, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	minPerSecond = max(minPerSecond, 0)
	c := int64(max(minPerSecond, 10)) * unit
	return &Budget{ratio: int64(ratio*unit + 0.5), min: int64(minPerSecond), cap: c, now: now,
		tokens: int64(minPerSecond) * unit, last: now()}
}

// Request records one original request.
func (b *Budget) Request() {
	b.mu.Lock()
	b.refillLocked()
	b.tokens = min(b.cap, b.tokens+b.ratio)
	b.mu.Unlock()
}

// Withdraw takes a token for one retry, and says whether there was one.
func (b *Budget) Withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked()
	if b.tokens < unit {
		return false
	}
	b.tokens -= unit
	return true
}

func (b *Budget) refillLocked() {
	now := b.now()
	el := now.Sub(b.last)
	if el <= 0 {
		return
	}
	el = min(el, time.Hour) // the cap is reached long before; no overflow
	add := b.min * unit * int64(el) / int64(time.Second)
	if add == 0 && b.min > 0 {
		return // keep the remainder: wait until a whole milli-token accrues
	}
	b.tokens = min(b.cap, b.tokens+add)
	b.last = now
}
