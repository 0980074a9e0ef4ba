package telemetry

import (
	"errors"
	"testing"
)

func TestOutcomes(t *testing.T) {
	for _, c := range []struct {
		status int
		want   string
	}{{0, Error}, {200, Success}, {302, Success}, {404, Success}, {499, Success}, {500, Error}, {503, Error}} {
		if got := HTTPOutcome(c.status); got != c.want {
			t.Errorf("HTTPOutcome(%d) = %s, want %s", c.status, got, c.want)
		}
	}
	for code, want := range map[int]string{0: Success, 1: Success, 2: Error, 3: Success, 4: Error, 5: Success, 7: Success, 12: Error, 13: Error, 14: Error, 15: Error, 16: Success} {
		if got := GRPCOutcome(code); got != want {
			t.Errorf("GRPCOutcome(%d) = %s, want %s", code, got, want)
		}
	}
	for status, want := range map[int]string{0: "5xx", 99: "5xx", 101: "1xx", 200: "2xx", 404: "4xx", 503: "5xx", 600: "5xx"} {
		if got := CodeClasses[CodeClass(status)]; got != want {
			t.Errorf("CodeClass(%d) = %s, want %s", status, got, want)
		}
	}
	if ErrOutcome(nil) != Success || ErrOutcome(errors.New("x")) != Error {
		t.Error("ErrOutcome")
	}
	for i := 1; i < len(LatencyBuckets); i++ {
		if LatencyBuckets[i] <= LatencyBuckets[i-1] {
			t.Fatalf("buckets not increasing at %d", i)
		}
	}
}
