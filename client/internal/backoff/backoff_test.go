package backoff

import (
	"sync"
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 500 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 500, 500, 500}
	for n, w := range want {
		if got := p.Ceiling(n); got != w*time.Millisecond {
			t.Errorf("Ceiling(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if got := p.Ceiling(200); got != p.Max {
		t.Errorf("Ceiling(200) = %v, want the cap", got)
	}
	if got := (Policy{Base: time.Second}).Ceiling(100); got <= 0 {
		t.Errorf("uncapped Ceiling(100) overflowed to %v", got)
	}
}

// TestDelayWithinJitterBounds draws many delays and checks each lies in
// [0, ceiling) and that they spread over the range (full jitter, not a
// constant or a narrow band).
func TestDelayWithinJitterBounds(t *testing.T) {
	p := Policy{Base: 25 * time.Millisecond, Max: time.Second}
	for n := range 8 {
		c := p.Ceiling(n)
		lo, hi := c, time.Duration(0)
		for range 2000 {
			d := p.Delay(n)
			if d < 0 || d >= c {
				t.Fatalf("Delay(%d) = %v outside [0,%v)", n, d, c)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > c/10 || hi < c*9/10 {
			t.Errorf("Delay(%d) spread [%v,%v] of [0,%v): jitter not full", n, lo, hi, c)
		}
	}
}

func TestDelayEdges(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0 }}
	if d := p.Delay(3); d != 0 {
		t.Errorf("rand 0: %v, want 0", d)
	}
	p.Rand = func() float64 { return 0.999999 }
	if d := p.Delay(3); d >= 800*time.Millisecond || d < 799*time.Millisecond {
		t.Errorf("rand ~1: %v, want just under 800ms", d)
	}
	if d := (Policy{}).Delay(5); d != 0 {
		t.Errorf("zero policy: %v", d)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBudget(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	b := NewBudget(0.2, 2, c.now)
	// The floor: two retries with no traffic at all.
	if !b.Withdraw() || !b.Withdraw() {
		t.Fatal("min retries refused")
	}
	if b.Withdraw() {
		t.Fatal("third retry allowed with no traffic and no time passed")
	}
	// 10 requests at 20% earn 2 retries.
	for range 10 {
		b.Request()
	}
	got := 0
	for b.Withdraw() {
		got++
	}
	if got != 2 {
		t.Fatalf("after 10 requests: %d retries, want 2", got)
	}
	// A second earns MinPerSecond more.
	c.add(time.Second)
	got = 0
	for b.Withdraw() {
		got++
	}
	if got != 2 {
		t.Fatalf("after a second: %d retries, want 2", got)
	}
	// A long calm banks at most the cap.
	c.add(time.Hour)
	got = 0
	for b.Withdraw() {
		got++
	}
	if got != 10 {
		t.Fatalf("after an hour: %d retries, want the cap 10", got)
	}
}
