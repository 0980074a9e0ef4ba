package breaker

import (
	"sync"
	"testing"
	"time"
)

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

func run(t *testing.T, b *Breaker, outcomes ...bool) {
	t.Helper()
	for i, ok := range outcomes {
		if !b.Allow() {
			t.Fatalf("request %d refused in state %v", i, b.State())
		}
		b.Done(ok)
	}
}

func TestTripRules(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		outcomes []bool
		want     State
	}{
		{"consecutive failures trip", Config{ConsecutiveFailures: 3}, []bool{false, false, false}, Open},
		{"a success resets the run", Config{ConsecutiveFailures: 3}, []bool{false, false, true, false, false}, Closed},
		{"ratio below min requests", Config{ConsecutiveFailures: -1, FailureRatio: 0.5, MinRequests: 10}, []bool{false, true, false, true, false}, Closed},
		{"ratio reached", Config{ConsecutiveFailures: -1, FailureRatio: 0.5, MinRequests: 4}, []bool{true, false, true, false}, Open},
		{"ratio not reached", Config{ConsecutiveFailures: -1, FailureRatio: 0.5, MinRequests: 4}, []bool{true, true, true, false, true}, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			b := New(tt.cfg, c.now, nil)
			run(t, b, tt.outcomes...)
			if got := b.State(); got != tt.want {
				t.Fatalf("state %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWindowResetsCounts(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := New(Config{ConsecutiveFailures: -1, FailureRatio: 0.5, MinRequests: 4, Window: time.Second}, c.now, nil)
	run(t, b, false, false, true)
	c.add(2 * time.Second)
	run(t, b, true, true, false, true) // the old failures are gone: 1/4
	if b.State() != Closed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

func TestHalfOpenProbe(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	var changes []string
	b := New(Config{ConsecutiveFailures: 2, CoolDown: 5 * time.Second}, c.now, func(from, to State) {
		changes = append(changes, from.String()+">"+to.String())
	})
	run(t, b, false, false)
	if b.Allow() || b.Available() {
		t.Fatal("open breaker admitted a request")
	}
	c.add(4 * time.Second)
	if b.Allow() {
		t.Fatal("admitted before the cool-down ended")
	}
	c.add(time.Second)
	if !b.Available() || b.State() != HalfOpen {
		t.Fatalf("after cool-down: state %v", b.State())
	}
	if !b.Allow() {
		t.Fatal("probe refused")
	}
	if b.Allow() || b.Available() {
		t.Fatal("second concurrent probe admitted")
	}
	b.Done(false) // probe fails: open again, new cool-down
	if b.State() != Open {
		t.Fatalf("failed probe: state %v, want open", b.State())
	}
	c.add(5 * time.Second)
	if !b.Allow() {
		t.Fatal("second probe refused")
	}
	b.Done(true)
	if b.State() != Closed {
		t.Fatalf("successful probe: state %v, want closed", b.State())
	}
	want := []string{"closed>open", "open>half_open", "half_open>open", "open>half_open", "half_open>closed"}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes %v, want %v", changes, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	b := New(Config{ConsecutiveFailures: 1000}, nil, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if b.Allow() {
					b.Done((i+g)%3 != 0)
				}
			}
		}()
	}
	wg.Wait()
	if b.State() != Closed {
		t.Fatalf("state %v, want closed (failures never consecutive enough)", b.State())
	}
}
