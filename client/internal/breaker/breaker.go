package breaker

import (
	"sync"
	"sync/atomic"
	"time"
)

// State is where a breaker stands.
type State int32

// The three states of a breaker.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String is the state's name as metrics and logs show it.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "unknown"
}

// Config says when a breaker trips and when it tries again. Zero fields
// take the defaults of Defaults.
type Config struct {
	// ConsecutiveFailures trips the breaker after this many failures in a
	// row (0: default 5; negative: never on this rule).
	ConsecutiveFailures int
	// FailureRatio trips the breaker when failures/requests in the current
	// window reaches it, once MinRequests were seen (0: rule disabled).
	FailureRatio float64
	// MinRequests is the smallest window the ratio rule judges (0: 20).
	MinRequests int
	// Window is how long closed-state counts are kept before they reset
	// (0: 10s).
	Window time.Duration
	// CoolDown is how long the breaker stays open before it lets probes
	// through (0: 5s).
	CoolDown time.Duration
	// HalfOpenProbes is how many requests may probe at once, and how many
	// must succeed to close the breaker (0: 1).
	HalfOpenProbes int
}

// Defaults fills the zero fields of c.
func (c Config) Defaults() Config {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	if c.MinRequests <= 0 {
		c.MinRequests = 20
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.CoolDown <= 0 {
		c.CoolDown = 5 * time.Second
	}
	if c.HalfOpenProbes <= 0 {
		c.HalfOpenProbes = 1
	}
	return c
}

// Breaker is safe for concurrent use.
type Breaker struct {
	cfg      Config
	now      func() time.Time
	onChange func(from, to State)

	closed atomic.Bool // mirrors state == Closed, for a lock-free Available

	mu          sync.Mutex
	state       State
	windowStart time.Time
	requests    int
	failures    int
	consecutive int
	openedAt    time.Time
	probes      int // probes in flight (half-open)
	probeOK     int // successful probes (half-open)
}

// New makes a closed breaker. now may be nil (time.Now); onChange, if not
// nil, is called (outside the lock) on every state change.
func New(cfg Config, now func() time.Time, onChange func(from, to State)) *Breaker {
	if now == nil {
		now = time.Now
	}
	b := &Breaker{cfg: cfg.Defaults(), now: now, onChange: onChange, windowStart: now()}
	b.closed.Store(true)
	return b
}

// State reports the current state; an open breaker whose cool-down has
// passed reports HalfOpen.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateLocked(b.now())
}

func (b *Breaker) stateLocked(now time.Time) State {
	if b.state == Open && now.Sub(b.openedAt) >= b.cfg.CoolDown {
		return HalfOpen
	}
	return b.state
}

// Available is true when Allow would likely admit a request; the load
// balancer reads it to route around open breakers.
func (b *Breaker) Available() bool {
	if b.closed.Load() {
		return true // the balancer asks on every pick, for every host
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.stateLocked(b.now()) {
	case Open:
		return false
	case HalfOpen:
		return b.probes < b.cfg.HalfOpenProbes
	}
	return true
}

// Allow asks to send one request. When it returns true the caller must
// call Done exactly once with the outcome.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	now := b.now()
	from := b.state
	st := b.stateLocked(now)
	ok := true
	switch st {
	case Open:
		ok = false
	case HalfOpen:
		if b.state == Open { // cool-down just ended
			b.state, b.probes, b.probeOK = HalfOpen, 0, 0
		}
		if b.probes >= b.cfg.HalfOpenProbes {
			ok = false
		} else {
			b.probes++
		}
	case Closed:
		if now.Sub(b.windowStart) >= b.cfg.Window {
			b.windowStart, b.requests, b.failures = now, 0, 0
		}
	}
	to := b.state
	b.closed.Store(to == Closed)
	b.mu.Unlock()
	b.notify(from, to)
	return ok
}

// Done records the outcome of a request that Allow admitted.
func (b *Breaker) Done(success bool) {
	b.mu.Lock()
	now := b.now()
	from := b.state
	switch b.state {
	case Closed:
		b.requests++
		if success {
			b.consecutive = 0
		} else {
			b.failures++
			b.consecutive++
			if b.shouldTrip() {
				b.tripLocked(now)
			}
		}
	case HalfOpen:
		if b.probes > 0 {
			b.probes--
		}
		if !success {
			b.tripLocked(now)
		} else if b.probeOK++; b.probeOK >= b.cfg.HalfOpenProbes {
			b.state = Closed
			b.windowStart, b.requests, b.failures, b.consecutive = now, 0, 0, 0
		}
	case Open:
		// A request admitted before the trip finished late: it says
		// nothing about the cool-down.
	}
	to := b.state
	b.closed.Store(to == Closed)
	b.mu.Unlock()
	b.notify(from, to)
}

func (b *Breaker) shouldTrip() bool {
	if c := b.cfg.ConsecutiveFailures; c > 0 && b.consecutive >= c {
		return true
	}
	if r := b.cfg.FailureRatio; r > 0 && b.requests >= b.cfg.MinRequests &&
		float64(b.failures)/float64(b.requests) >= r {
		return true
	}
	return false
}

func (b *Breaker) tripLocked(now time.Time) {
	b.state, b.openedAt = Open, now
	b.probes, b.probeOK, b.consecutive = 0, 0, 0
}

func (b *Breaker) notify(from, to State) {
	if from != to && b.onChange != nil {
		b.onChange(from, to)
	}
}
