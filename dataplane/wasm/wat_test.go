package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWATHeadersAndResponse(t *testing.T) {
	r := newTestRuntime(t)
	p := newTestPlugin(t, r, PluginConfig{Name: "wat-headers", Wasm: watModule(t, "abi_filter"), PoolSize: 2}, nil)
	s := p.NewStream(StreamInfo{RequestID: "r1"})
	defer s.Done()
	h := reqHeaders("x-remove-me", "1")
	if a := s.OnRequestHeaders(h, true); a != Continue {
		t.Fatalf("request headers: %v", a)
	}
	if v, _ := h.Get("x-wat-seen"); v != "1" {
		t.Errorf("x-wat-seen = %q, want 1", v)
	}
	if _, ok := h.Get("x-remove-me"); ok {
		t.Error("x-remove-me not removed")
	}
	resp := &Headers{{":status", "200"}}
	if a := s.OnResponseHeaders(resp, true); a != Continue {
		t.Fatalf("response headers: %v", a)
	}
	if v, _ := resp.Get("x-wat-response"); v != "1" {
		t.Errorf("x-wat-response = %q", v)
	}
}

func TestWATLocalResponse(t *testing.T) {
	r := newTestRuntime(t)
	p := newTestPlugin(t, r, PluginConfig{Name: "wat-local", Wasm: watModule(t, "abi_filter"), PoolSize: 1}, nil)
	s := p.NewStream(StreamInfo{})
	defer s.Done()
	if a := s.OnRequestHeaders(reqHeaders("x-wat-mode", "d"), true); a != SendLocalResponse {
		t.Fatalf("action %v, want local response", a)
	}
	lr := s.LocalResponse()
	if lr.Status != 403 || string(lr.Body) != "denied by wat" || lr.Details != "wat" || lr.GrpcStatus != -1 {
		t.Fatalf("local response = %+v", lr)
	}
	if len(lr.Headers) != 1 || lr.Headers[0] != [2]string{"x-wat", "yes"} {
		t.Fatalf("local response headers = %q", lr.Headers)
	}
}

func TestWATHTTPCall(t *testing.T) {
	status := 200
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if req.URL.Path != "/check" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	r := newTestRuntime(t)
	p := newTestPlugin(t, r, PluginConfig{Name: "wat-call", Wasm: watModule(t, "abi_filter"), PoolSize: 1},
		netHost{clusters: map[string]string{"authz": srv.URL}})
	tests := []struct {
		name   string
		status int
		want   Action
	}{
		{"allowed", 200, Continue},
		{"refused", 403, SendLocalResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			status = tt.status
			mu.Unlock()
			s := p.NewStream(StreamInfo{})
			defer s.Done()
			h := reqHeaders("x-wat-mode", "c")
			if a := s.OnRequestHeaders(h, true); a != Pause {
				t.Fatalf("action %v, want pause", a)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if a := s.Wait(ctx); a != tt.want {
				t.Fatalf("resumed with %v, want %v", a, tt.want)
			}
			if tt.want == Continue {
				if v, _ := h.Get("x-wat-authz"); v != "ok" {
					t.Fatalf("x-wat-authz = %q", v)
				}
			} else if lr := s.LocalResponse(); lr.Status != 401 || string(lr.Body) != "unauthorized" {
				t.Fatalf("local response = %+v", lr)
			}
		})
	}
}

func TestWATSharedDataCAS(t *testing.T) {
	r := newTestRuntime(t)
	p := newTestPlugin(t, r, PluginConfig{Name: "wat-shared", Wasm: watModule(t, "abi_filter"), PoolSize: 4}, nil)
	const clients, each = 8, 40
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				s := p.NewStream(StreamInfo{})
				if a := s.OnRequestHeaders(reqHeaders("x-wat-mode", "s"), true); a != Continue {
					t.Errorf("action %v", a)
				}
				s.Done()
			}
		}()
	}
	wg.Wait()
	v, _, ok := r.SharedData("wat-shared", "wat_counter")
	if !ok || len(v) != 4 {
		t.Fatalf("counter missing: %v %v", v, ok)
	}
	if got := binary.LittleEndian.Uint32(v); got != clients*each {
		t.Fatalf("counter = %d, want %d (lost updates)", got, clients*each)
	}
}

func TestNewPluginRejects(t *testing.T) {
	r := newTestRuntime(t)
	wat := watModule(t, "abi_filter")
	tests := []struct {
		name string
		cfg  PluginConfig
		want string
	}{
		{"refused config", PluginConfig{Name: "a", Wasm: wat, Config: []byte("xbad")}, "proxy_on_configure"},
		{"refused route config", PluginConfig{Name: "b", Wasm: wat, Routes: map[string]RouteConfig{"r": {Config: []byte("x")}}}, "per-route"},
		{"not wasm", PluginConfig{Name: "c", Wasm: []byte("hello")}, "compile"},
		{"no abi marker", PluginConfig{Name: "d", Wasm: []byte("\x00asm\x01\x00\x00\x00")}, "marker"},
		{"missing file", PluginConfig{Name: "e", WasmPath: "testdata/nope.wasm"}, "no such file"},
		{"no name", PluginConfig{Wasm: wat}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.NewPlugin(context.Background(), tt.cfg, nil)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("NewPlugin succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestPerRouteDisable(t *testing.T) {
	r := newTestRuntime(t)
	p := newTestPlugin(t, r, PluginConfig{Name: "wat-routes", Wasm: watModule(t, "abi_filter"), PoolSize: 1,
		Routes: map[string]RouteConfig{"public": {Disabled: true}, "special": {Config: []byte("ok")}}}, nil)
	if p.Enabled("public") || !p.Enabled("special") || !p.Enabled("other") {
		t.Fatal("Enabled disagrees with Routes")
	}
	for _, route := range []string{"public", "special", "other"} {
		s := p.NewStream(StreamInfo{RouteName: route})
		h := reqHeaders("x-wat-mode", "d")
		a := s.OnRequestHeaders(h, true)
		s.Done()
		want := SendLocalResponse
		if route == "public" {
			want = Continue
		}
		if a != want {
			t.Errorf("route %s: action %v, want %v", route, a, want)
		}
	}
}

func TestGuestFailureIsolated(t *testing.T) {
	r := newTestRuntime(t)
	wat := watModule(t, "abi_filter")
	tests := []struct {
		mode, reason string
		failOpen     bool
		deadline     time.Duration
	}{
		{"t", "trap", false, 5 * time.Second},
		{"t", "trap", true, 5 * time.Second},
		{"l", "deadline", false, 200 * time.Millisecond},
		{"m", "memory", false, 5 * time.Second},
		{"m", "memory", true, 5 * time.Second},
	}
	for _, tt := range tests {
		name := tt.reason
		if tt.failOpen {
			name += "-failopen"
		}
		t.Run(name, func(t *testing.T) {
			p := newTestPlugin(t, r, PluginConfig{Name: "fail-" + name, Wasm: wat, PoolSize: 1, FailOpen: tt.failOpen,
				CallDeadline: tt.deadline, MemoryLimitPages: 64}, nil)
			s := p.NewStream(StreamInfo{RequestID: "bad"})
			a := s.OnRequestHeaders(reqHeaders("x-wat-mode", tt.mode), true)
			// Later callbacks of the failed stream fail the same way.
			a2 := s.OnResponseHeaders(&Headers{{":status", "200"}}, true)
			s.Done()
			if tt.failOpen {
				if a != Continue || a2 != Continue {
					t.Fatalf("fail open: actions %v, %v", a, a2)
				}
			} else {
				lr := s.LocalResponse()
				if a != SendLocalResponse || lr == nil || lr.Status != 503 || !strings.Contains(string(lr.Body), tt.reason) {
					t.Fatalf("fail closed: action %v, local %+v", a, lr)
				}
			}
			// The next request is served normally by a replacement VM.
			for i := 0; i < 3; i++ {
				s := p.NewStream(StreamInfo{})
				h := reqHeaders()
				if a := s.OnRequestHeaders(h, true); a != Continue {
					t.Fatalf("next request: %v", a)
				}
				if v, _ := h.Get("x-wat-seen"); v != "1" {
					t.Fatal("next request not filtered")
				}
				s.Done()
			}
			var buf bytes.Buffer
			if err := r.WritePrometheus(&buf); err != nil {
				t.Fatal(err)
			}
			want := `meshd_wasm_vm_failures_total{plugin="fail-` + name + `",reason="` + tt.reason + `"} 1`
			if !strings.Contains(buf.String(), want) {
				t.Fatalf("metrics lack %s:\n%s", want, buf.String())
			}
		})
	}
}

// TestABI010 loads a module exporting only the 0.1.0 marker, with the
// two-argument headers callback and proxy_continue_request.
func TestABI010(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {}))
	defer srv.Close()
	r := newTestRuntime(t)
	p := newTestPlugin(t, r, PluginConfig{Name: "abi010", Wasm: watModule(t, "abi010_filter"), PoolSize: 1},
		netHost{clusters: map[string]string{"authz": srv.URL}})
	if p.abi != "proxy_abi_version_0_1_0" {
		t.Fatalf("abi = %s", p.abi)
	}
	s := p.NewStream(StreamInfo{})
	defer s.Done()
	h := reqHeaders()
	if a := s.OnRequestHeaders(h, true); a != Pause {
		t.Fatalf("action %v", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a := s.Wait(ctx); a != Continue {
		t.Fatalf("resumed with %v", a)
	}
	if v, _ := h.Get("x-abi"); v != "0.1.0" {
		t.Fatalf("x-abi = %q", v)
	}
	if v, _ := h.Get("x-resumed"); v != "0.1.0" {
		t.Fatalf("x-resumed = %q", v)
	}
}
