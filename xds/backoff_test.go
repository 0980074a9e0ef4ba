package xds

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	base, max := 100*time.Millisecond, 2*time.Second
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, time.Second, 2 * time.Second},
		{1000, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := backoff(base, max, tt.attempt)
			if d < tt.min || d > tt.max {
				t.Errorf("attempt %d: %v outside [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("attempt %d: no jitter", tt.attempt)
		}
	}
}

func TestNackDelay(t *testing.T) {
	tests := []struct {
		repeats int
		want    time.Duration
	}{{0, 0}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {8, 10 * time.Second}, {100, 10 * time.Second}}
	for _, tt := range tests {
		if got := nackDelay(tt.repeats); got != tt.want {
			t.Errorf("nackDelay(%d) = %v, want %v", tt.repeats, got, tt.want)
		}
	}
}
