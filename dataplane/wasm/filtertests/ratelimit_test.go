package filtertests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
	"github.com/wasmesh/wasmesh/dataplane/wasm/redislimit"
)

func rlPlugin(t testing.TB, r *wasm.Runtime, name, cfg string, pool int) *wasm.Plugin {
	return newPlugin(t, r, wasm.PluginConfig{Name: name, Wasm: filterWasm(t, "rate-limit"), Config: []byte(cfg), PoolSize: pool}, nil)
}

// TestRateLimitConcurrent: 8 clients hammer one key through 4 VMs; the
// shared bucket admits exactly its burst (no lost CAS update).
func TestRateLimitConcurrent(t *testing.T) {
	r := newRuntime(t, wasm.RuntimeConfig{})
	const burst = 40
	p := rlPlugin(t, r, "rl-concurrent", fmt.Sprintf(`{"key": ["header:x-api-key"], "local": {"requests": 1, "per_seconds": 3600, "burst": %d}}`, burst), 4)
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				a, s := run(t, p, wasm.StreamInfo{}, request("/", "x-api-key", "k1"))
				s.Done()
				switch a {
				case wasm.Continue:
					admitted.Add(1)
				case wasm.SendLocalResponse:
					if s.LocalResponse().Status != 429 {
						t.Errorf("local response %d", s.LocalResponse().Status)
					}
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != burst || refused.Load() != 160-burst {
		t.Fatalf("admitted %d, refused %d; want %d admitted", admitted.Load(), refused.Load(), burst)
	}
	// Another key has its own bucket.
	if a, s := run(t, p, wasm.StreamInfo{}, request("/", "x-api-key", "k2")); a != wasm.Continue {
		t.Fatalf("other key: %v", a)
	} else {
		s.Done()
	}
}

func TestRateLimitHeadersAndKeys(t *testing.T) {
	r := newRuntime(t, wasm.RuntimeConfig{})
	p := rlPlugin(t, r, "rl-headers", `{"key": ["source_ip", "jwt_subject", "route", "path"], "local": {"requests": 2, "per_seconds": 60}}`, 1)
	info := wasm.StreamInfo{SourceAddress: "10.0.0.1:5555", RouteName: "r1"}
	for i := 0; i < 2; i++ {
		s := p.NewStream(info)
		if a := s.OnRequestHeaders(request("/a?q=1", "x-jwt-sub", "alice"), true); a != wasm.Continue {
			t.Fatalf("request %d: %v", i, a)
		}
		resp := &wasm.Headers{{":status", "200"}}
		s.OnResponseHeaders(resp, true)
		s.Done()
		if v, _ := resp.Get("x-ratelimit-remaining"); v != fmt.Sprint(1-i) {
			t.Fatalf("remaining = %q after %d", v, i+1)
		}
		if v, _ := resp.Get("x-ratelimit-limit"); v != "2" {
			t.Fatalf("limit = %q", v)
		}
	}
	s := p.NewStream(info)
	a := s.OnRequestHeaders(request("/a", "x-jwt-sub", "alice"), true)
	s.Done()
	lr := s.LocalResponse()
	if a != wasm.SendLocalResponse || lr.Status != 429 {
		t.Fatalf("third request: %v", a)
	}
	hv := map[string]string{}
	for _, kv := range lr.Headers {
		hv[kv[0]] = kv[1]
	}
	if hv["retry-after"] != "30" || hv["x-ratelimit-remaining"] != "0" || hv["x-ratelimit-limit"] != "2" {
		t.Fatalf("429 headers = %v", hv)
	}
	// A different subject, source, route or path is another client.
	for _, tc := range []struct {
		info wasm.StreamInfo
		h    *wasm.Headers
	}{
		{info, request("/a", "x-jwt-sub", "bob")},
		{wasm.StreamInfo{SourceAddress: "10.0.0.2:1", RouteName: "r1"}, request("/a", "x-jwt-sub", "alice")},
		{wasm.StreamInfo{SourceAddress: "10.0.0.1:1", RouteName: "r2"}, request("/a", "x-jwt-sub", "alice")},
		{info, request("/b", "x-jwt-sub", "alice")},
	} {
		a, s := run(t, p, tc.info, tc.h)
		s.Done()
		if a != wasm.Continue {
			t.Fatalf("%+v: %v", tc.info, a)
		}
	}
}

func TestRateLimitShadow(t *testing.T) {
	r := newRuntime(t, wasm.RuntimeConfig{})
	p := rlPlugin(t, r, "rl-shadow", `{"key": ["header:x-k"], "shadow": true, "local": {"requests": 1, "per_seconds": 3600}}`, 1)
	for i := 0; i < 5; i++ {
		a, s := run(t, p, wasm.StreamInfo{}, request("/", "x-k", "shadow"))
		s.Done()
		if a != wasm.Continue {
			t.Fatalf("shadow mode refused request %d", i)
		}
	}
	if n, _ := r.MetricValue("rate_limit.shadow_limited"); n != 4 {
		t.Fatalf("shadow_limited = %d, want 4", n)
	}
}

func TestRateLimitRejectsBadConfig(t *testing.T) {
	r := newRuntime(t, wasm.RuntimeConfig{})
	for _, cfg := range []string{`{}`, `{"local": {"requests": 0, "per_seconds": 1}}`, `{"key": ["cookie"], "local": {"requests": 1, "per_seconds": 1}}`, `{"locl": {}}`} {
		_, err := r.NewPlugin(context.Background(), wasm.PluginConfig{Name: "rl-bad", Wasm: filterWasm(t, "rate-limit"), Config: []byte(cfg), PoolSize: 1}, nil)
		if err == nil {
			t.Fatalf("config %s accepted", cfg)
		}
	}
}

func redisClient(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379 is required (apt-get install redis-server; start it): %v", err)
		}
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRateLimitGlobalRedis: two independent runtimes (two meshd instances)
// share one global limit through Redis.
func TestRateLimitGlobalRedis(t *testing.T) {
	rc := redisClient(t)
	prefix := fmt.Sprintf("wasmesh:test:%d:%d:", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
	})
	cfg := fmt.Sprintf(`{"key": ["header:x-tenant"], "global": {"requests": 6, "window_seconds": 60, "prefix": %q}}`, prefix)
	var plugins []*wasm.Plugin
	for i := 0; i < 2; i++ {
		r := newRuntime(t, wasm.RuntimeConfig{ForeignFunctions: map[string]wasm.ForeignFunc{redislimit.Name: redislimit.New(rc, time.Second)}})
		plugins = append(plugins, rlPlugin(t, r, "rl-global", cfg, 2))
	}
	admitted := 0
	var last *wasm.Stream
	for i := 0; i < 10; i++ {
		a, s := run(t, plugins[i%2], wasm.StreamInfo{}, request("/", "x-tenant", "acme"))
		s.Done()
		if a == wasm.Continue {
			admitted++
		} else {
			last = s
		}
	}
	if admitted != 6 {
		t.Fatalf("admitted %d across two instances, want 6", admitted)
	}
	var retry string
	for _, kv := range last.LocalResponse().Headers {
		if kv[0] == "retry-after" {
			retry = kv[1]
		}
	}
	if retry == "" || retry == "0" || strings.HasPrefix(retry, "-") {
		t.Fatalf("retry-after = %q", retry)
	}
}

// TestRateLimitGlobalRedisDown: without Redis the global limit fails open.
func TestRateLimitGlobalRedisDown(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rc.Close()
	r := newRuntime(t, wasm.RuntimeConfig{ForeignFunctions: map[string]wasm.ForeignFunc{redislimit.Name: redislimit.New(rc, 200*time.Millisecond)}})
	p := rlPlugin(t, r, "rl-down", `{"global": {"requests": 1, "window_seconds": 60}}`, 1)
	for i := 0; i < 3; i++ {
		a, s := run(t, p, wasm.StreamInfo{}, request("/"))
		s.Done()
		if a != wasm.Continue {
			t.Fatalf("request %d refused with Redis down", i)
		}
	}
	if n, _ := r.MetricValue("rate_limit.global_errors"); n != 3 {
		t.Fatalf("global_errors = %d", n)
	}
}
