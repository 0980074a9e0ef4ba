package tracing

import (
	"testing"

	"github.com/wasmesh/wasmesh/wasm-sdk/sdktest"
)

func TestParseTraceparent(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true}, // future version
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		if _, ok := parseTraceparent(tt.in); ok != tt.ok {
			t.Errorf("parseTraceparent(%q) ok = %v", tt.in, ok)
		}
	}
}

func TestNativeNewTraceAndIDs(t *testing.T) {
	h, err := sdktest.New(sdktest.Options{Config: []byte(`{"export": false}`)})
	if err != nil {
		t.Fatal(err)
	}
	s := h.NewStream(nil)
	s.SendRequestHeaders([][2]string{{":method", "GET"}, {":path", "/"}}, true)
	if _, ok := parseTraceparent(s.RequestHeader("traceparent")); !ok {
		t.Fatalf("traceparent %q", s.RequestHeader("traceparent"))
	}
	rid := s.RequestHeader("x-request-id")
	if len(rid) != 36 || rid[14] != '4' || s.RequestHeader("x-correlation-id") != rid {
		t.Fatalf("ids %q %q", rid, s.RequestHeader("x-correlation-id"))
	}
	s.SendResponseHeaders([][2]string{{":status", "200"}}, true)
	if s.ResponseHeader("x-request-id") != rid {
		t.Fatal("x-request-id not echoed")
	}
	s.Done()
}

func TestAppendJSONString(t *testing.T) {
	got := string(appendJSONString(nil, "a\"b\\c\x01é"))
	want := `"a\"b\\c\u0001é"`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
