package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/wasmesh/wasmesh/eventlog"
)

func TestCategory(t *testing.T) {
	for _, tc := range []struct{ stream, want string }{
		{"order-42", "order"},
		{"order-42-line-1", "order"},
		{"plain", "plain"},
		{"-x", ""},
	} {
		if got := eventlog.Category(tc.stream); got != tc.want {
			t.Errorf("Category(%q) = %q, want %q", tc.stream, got, tc.want)
		}
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		filter string
		stream string
		match  bool
	}{
		{"all", "a-1", true},
		{"", "a-1", true},
		{"stream:a-1", "a-1", true},
		{"stream:a-1", "a-2", false},
		{"category:a", "a-2", true},
		{"category:a", "ab-2", false},
	} {
		f, err := eventlog.ParseFilter(tc.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
		}
		if got := f.Match(tc.stream); got != tc.match {
			t.Errorf("%s.Match(%q) = %v, want %v", f, tc.stream, got, tc.match)
		}
		if g, err := eventlog.ParseFilter(f.String()); err != nil || g != f {
			t.Errorf("round trip of %s gave %v, %v", f, g, err)
		}
	}
	if _, err := eventlog.ParseFilter("bogus:x"); !errors.Is(err, eventlog.ErrInvalid) {
		t.Errorf("ParseFilter(bogus) error = %v, want ErrInvalid", err)
	}
}

func TestConcurrencyErrorIs(t *testing.T) {
	var err error = &eventlog.ConcurrencyError{Stream: "s", Expected: eventlog.NoStream, Actual: 3}
	err = fmt.Errorf("wrapped: %w", err)
	if !errors.Is(err, eventlog.ErrConcurrency) {
		t.Fatal("errors.Is(ConcurrencyError, ErrConcurrency) = false")
	}
	var ce *eventlog.ConcurrencyError
	if !errors.As(err, &ce) || ce.Actual != 3 {
		t.Fatalf("errors.As did not find the conflict: %+v", ce)
	}
}

func TestExpectedVersionCheck(t *testing.T) {
	for _, tc := range []struct {
		exp     eventlog.ExpectedVersion
		current int64
		want    bool
	}{
		{eventlog.Any, 0, true},
		{eventlog.Any, 7, true},
		{eventlog.NoStream, 0, true},
		{eventlog.NoStream, 1, false},
		{eventlog.Exact(3), 3, true},
		{eventlog.Exact(3), 4, false},
	} {
		if got := tc.exp.Check(tc.current); got != tc.want {
			t.Errorf("%s.Check(%d) = %v, want %v", tc.exp, tc.current, got, tc.want)
		}
	}
}

func TestCausedBy(t *testing.T) {
	ctx := eventlog.WithCorrelationID(context.Background(), "req-1")
	e := eventlog.Event{CorrelationID: "req-1"}
	ctx2 := eventlog.CausedBy(ctx, e)
	if eventlog.CorrelationID(ctx2) != "req-1" || eventlog.CausationID(ctx2) != e.ID.String() {
		t.Fatalf("CausedBy gave correlation %q causation %q", eventlog.CorrelationID(ctx2), eventlog.CausationID(ctx2))
	}
}

func TestParseExpectedVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want eventlog.ExpectedVersion
		ok   bool
	}{
		{"any", eventlog.Any, true},
		{"no-stream", eventlog.NoStream, true},
		{"0", eventlog.NoStream, true},
		{"17", eventlog.Exact(17), true},
		{"-3", 0, false},
		{"seven", 0, false},
	} {
		got, err := eventlog.ParseExpectedVersion(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseExpectedVersion(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok {
			if back, _ := eventlog.ParseExpectedVersion(got.String()); back != got {
				t.Errorf("round trip of %s gave %s", got, back)
			}
		}
	}
}
