package backoff

import (
	"testing"
	"time"
)

func TestCeilingAndDelay(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	tests := []struct {
		n    int
		want time.Duration
	}{{0, 10 * time.Millisecond}, {1, 20 * time.Millisecond}, {3, 80 * time.Millisecond}, {4, 100 * time.Millisecond}, {50, 100 * time.Millisecond}}
	for _, tt := range tests {
		if got := p.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tt.n, got, tt.want)
		}
		for range 100 {
			if d := p.Delay(tt.n); d < 0 || d > tt.want {
				t.Fatalf("Delay(%d) = %v outside [0,%v]", tt.n, d, tt.want)
			}
		}
	}
}
