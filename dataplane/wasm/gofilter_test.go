package wasm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGoGuest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "pong")
	}))
	defer srv.Close()
	r := newTestRuntime(t)
	bin := goModule(t, "testdata/gofilter")
	p := newTestPlugin(t, r, PluginConfig{Name: "go", Wasm: bin, PoolSize: 2, CallDeadline: time.Second},
		netHost{clusters: map[string]string{"upstream": srv.URL}})

	t.Run("headers", func(t *testing.T) {
		s := p.NewStream(StreamInfo{RequestID: "go-1"})
		defer s.Done()
		h := reqHeaders()
		if a := s.OnRequestHeaders(h, true); a != Continue {
			t.Fatalf("action %v", a)
		}
		if v, _ := h.Get("x-go"); v != "1" {
			t.Fatalf("x-go = %q", v)
		}
	})
	t.Run("http call", func(t *testing.T) {
		s := p.NewStream(StreamInfo{})
		defer s.Done()
		h := reqHeaders("x-mode", "call")
		if a := s.OnRequestHeaders(h, true); a != Pause {
			t.Fatalf("action %v", a)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if a := s.Wait(ctx); a != Continue {
			t.Fatalf("resumed with %v (%+v)", a, s.LocalResponse())
		}
		if v, _ := h.Get("x-call-status"); v != "200" {
			t.Fatalf("x-call-status = %q", v)
		}
		if v, _ := h.Get("x-call-body"); v != "pong" {
			t.Fatalf("x-call-body = %q", v)
		}
	})
	t.Run("panic then normal", func(t *testing.T) {
		s := p.NewStream(StreamInfo{})
		a := s.OnRequestHeaders(reqHeaders("x-mode", "panic"), true)
		s.Done()
		if a != SendLocalResponse || s.LocalResponse().Status != 503 {
			t.Fatalf("panic: action %v", a)
		}
		for i := 0; i < 4; i++ {
			s := p.NewStream(StreamInfo{})
			h := reqHeaders()
			if a := s.OnRequestHeaders(h, true); a != Continue {
				t.Fatalf("after panic: %v", a)
			}
			s.Done()
		}
	})
	t.Run("out of memory then normal", func(t *testing.T) {
		small := newTestPlugin(t, r, PluginConfig{Name: "go-oom", Wasm: bin, PoolSize: 1, MemoryLimitPages: 512, CallDeadline: 10 * time.Second}, nil)
		s := small.NewStream(StreamInfo{})
		a := s.OnRequestHeaders(reqHeaders("x-mode", "leak"), true)
		s.Done()
		if a != SendLocalResponse || !strings.Contains(string(s.LocalResponse().Body), "memory") {
			t.Fatalf("leak: action %v %+v", a, s.LocalResponse())
		}
		s = small.NewStream(StreamInfo{})
		h := reqHeaders()
		if a := s.OnRequestHeaders(h, true); a != Continue {
			t.Fatalf("after out of memory: %v", a)
		}
		s.Done()
		if v, _ := h.Get("x-go"); v != "1" {
			t.Fatal("next request not filtered")
		}
	})
	t.Run("refused config", func(t *testing.T) {
		_, err := r.NewPlugin(context.Background(), PluginConfig{Name: "go-refuse", Wasm: bin, PoolSize: 1, Config: []byte("refuse")}, nil)
		if err == nil || !strings.Contains(err.Error(), "proxy_on_configure") {
			t.Fatalf("err = %v", err)
		}
	})
}

// memAfter runs n allocating requests through a one-VM plugin and returns
// the VM's linear memory size before and after.
func memAfter(t *testing.T, r *Runtime, bin []byte, gcEvery, n int, bytes string) (before, after uint32) {
	p := newTestPlugin(t, r, PluginConfig{Name: fmt.Sprintf("mem-%d", gcEvery), Wasm: bin, PoolSize: 1,
		GCEvery: gcEvery, MemoryLimitPages: 4096, CallDeadline: 5 * time.Second}, nil)
	size := func() uint32 { return p.slots[0].Load().mod.Memory().Size() }
	run := func(n int) {
		for i := 0; i < n; i++ {
			s := p.NewStream(StreamInfo{})
			if a := s.OnRequestHeaders(reqHeaders("x-mode", "alloc", "x-alloc-bytes", bytes), true); a != Continue {
				t.Fatalf("request %d: %v", i, a)
			}
			s.Done()
		}
	}
	run(2000)
	before = size()
	run(n)
	return before, size()
}

// TestGoGuestMemoryStaysFlat proves a busy Go filter's memory stays flat:
// 8,000 requests each leave 3 KiB of garbage (24 MiB in all) and the VM's
// linear memory may not grow by more than 4 MiB. The host calls the SDK's
// wasmesh_gc export every GCEvery calls for this.
func TestGoGuestMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	r := newTestRuntime(t)
	bin := goModule(t, "testdata/gofilter")
	const n = 8000
	before, after := memAfter(t, r, bin, 0, n, "3072")
	t.Logf("with wasmesh_gc: %d KiB -> %d KiB", before>>10, after>>10)
	if after > before+4<<20 {
		t.Fatalf("memory grew from %d KiB to %d KiB with the GC hook", before>>10, after>>10)
	}
}
