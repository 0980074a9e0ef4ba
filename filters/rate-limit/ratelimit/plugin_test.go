package ratelimit

import (
	"testing"
	"time"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
	"github.com/wasmesh/wasmesh/wasm-sdk/sdktest"
)

func TestNativeBucketRefills(t *testing.T) {
	now := time.Unix(1_000, 0)
	h, err := sdktest.New(sdktest.Options{
		Config: []byte(`{"key": ["header:x-k"], "local": {"requests": 2, "per_seconds": 10, "burst": 2}, "max_keys": 16}`),
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func() *sdktest.Stream {
		s := h.NewStream(nil)
		s.SendRequestHeaders([][2]string{{":path", "/"}, {"x-k", "a"}}, true)
		s.SendResponseHeaders([][2]string{{":status", "200"}}, true)
		s.Done()
		return s
	}
	for i := 0; i < 2; i++ {
		if s := send(); s.Local != nil {
			t.Fatalf("request %d refused", i)
		}
	}
	s := send()
	if s.Local == nil || s.Local.Status != 429 || s.Local.Header("retry-after") != "5" {
		t.Fatalf("third request: %+v", s.Local)
	}
	now = now.Add(5 * time.Second) // one token back
	if s := send(); s.Local != nil || s.ResponseHeader("x-ratelimit-remaining") != "0" {
		t.Fatalf("after refill: %+v %q", s.Local, s.ResponseHeaders)
	}
	if s := send(); s.Local == nil {
		t.Fatal("bucket did not empty again")
	}
	if n, _ := h.Metric("rate_limit.limited"); n != 2 {
		t.Fatalf("limited = %d", n)
	}
}

func TestNativeSlotTakeover(t *testing.T) {
	now := time.Unix(1_000, 0)
	// One slot: a second client may take it only once the first is idle (full).
	h, err := sdktest.New(sdktest.Options{
		Config: []byte(`{"key": ["header:x-k"], "local": {"requests": 1, "per_seconds": 1, "burst": 1}, "max_keys": 1}`),
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(k string) sdk.Action {
		s := h.NewStream(nil)
		defer s.Done()
		return s.SendRequestHeaders([][2]string{{":path", "/"}, {"x-k", k}}, true)
	}
	send("a")
	send("b") // slot busy: admitted, counted as table_full
	if n, _ := h.Metric("rate_limit.table_full"); n != 1 {
		t.Fatalf("table_full = %d", n)
	}
	now = now.Add(2 * time.Second) // a's bucket is full again: b takes the slot
	send("b")
	if n, _ := h.Metric("rate_limit.table_full"); n != 1 {
		t.Fatalf("table_full after takeover = %d", n)
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:80": "10.0.0.1", "[::1]:80": "::1", "::1": "::1", "host": "host", "[::1": "[::1"} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}
