package filtertests

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
	"github.com/wasmesh/wasmesh/dataplane/wasm/otelspan"
)

// The benchmarks measure the in-process cost per request of each built-in
// filter, and of all three chained, against no filter: a request's headers
// pass OnRequestHeaders and OnResponseHeaders of every filter, then Done.
//
//	go test -run '^$' -bench . -benchmem ./dataplane/wasm/filtertests/

// cpuNanos is the process's user+system CPU time; reported per op it is
// less distorted than wall time on a shared, overloaded machine.
func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchChain(b *testing.B, plugins []*wasm.Plugin, auth string) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNanos()
	defer func() { b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N), "cpu-ns/op") }()
	streams := make([]*wasm.Stream, len(plugins))
	for i := 0; i < b.N; i++ {
		req := wasm.Headers{{":method", "GET"}, {":path", "/api/orders"}, {":authority", "svc"}, {":scheme", "http"},
			{"authorization", auth}, {"x-api-key", "k1"}}
		resp := wasm.Headers{{":status", "200"}, {"content-type", "application/json"}}
		info := wasm.StreamInfo{RequestID: "r", SourceAddress: "10.0.0.1:4000", RouteName: "orders"}
		for j, p := range plugins {
			streams[j] = p.NewStream(info)
			if a := streams[j].OnRequestHeaders(&req, true); a != wasm.Continue {
				b.Fatalf("filter %d: %v %+v", j, a, streams[j].LocalResponse())
			}
		}
		for j := len(plugins) - 1; j >= 0; j-- {
			streams[j].OnResponseHeaders(&resp, true)
		}
		for _, s := range streams {
			s.Done()
		}
	}
}

func benchPlugins(b *testing.B) (auth string, jwtP, rlP, trP *wasm.Plugin) {
	return benchPluginsFrom(b, false)
}

// benchPluginsFrom loads the three filters from their own modules, or with
// bundle from filters/bundle (one module, shared compiled code).
func benchPluginsFrom(b *testing.B, bundle bool) (auth string, jwtP, rlP, trP *wasm.Plugin) {
	ks := testKeys(b)
	mem := tracetest.NewNoopExporter()
	exp := otelspan.New(mem, nil)
	b.Cleanup(func() { exp.Close(b.Context()) })
	r := newRuntime(b, wasm.RuntimeConfig{ForeignFunctions: map[string]wasm.ForeignFunc{otelspan.Name: exp.Func()}})
	module := func(name string) ([]byte, string) {
		if bundle {
			return filterWasm(b, "bundle"), fmt.Sprintf(`"filter": %q,`, name)
		}
		return filterWasm(b, name), ""
	}
	bin, key := module("jwt-auth")
	jwtP = newPlugin(b, r, wasm.PluginConfig{Name: "bench-jwt", Wasm: bin, Config: []byte(jwtConfig(b, ks, key)), PoolSize: 2}, nil)
	bin, key = module("rate-limit")
	rlP = newPlugin(b, r, wasm.PluginConfig{Name: "bench-rl", Wasm: bin, PoolSize: 2,
		Config: []byte(`{` + key + `"key": ["header:x-api-key", "route"], "local": {"requests": 1000000000, "per_seconds": 1}}`)}, nil)
	bin, key = module("tracing")
	var trCfg []byte
	if bundle {
		trCfg = []byte(`{` + strings.TrimSuffix(key, ",") + `}`)
	}
	trP = newPlugin(b, r, wasm.PluginConfig{Name: "bench-tracing", Wasm: bin, Config: trCfg, PoolSize: 2}, nil)
	tok := mint(b, jwt.SigningMethodRS256, "r1", ks.rsa, jwt.MapClaims{"iss": issuer, "aud": "api", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix()})
	return "Bearer " + tok, jwtP, rlP, trP
}

func BenchmarkFilters(b *testing.B) {
	auth, jwtP, rlP, trP := benchPlugins(b)
	for _, bc := range []struct {
		name    string
		plugins []*wasm.Plugin
	}{
		{"none", nil},
		{"jwt-auth", []*wasm.Plugin{jwtP}},
		{"rate-limit", []*wasm.Plugin{rlP}},
		{"tracing", []*wasm.Plugin{trP}},
		{"all-three", []*wasm.Plugin{trP, jwtP, rlP}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchChain(b, bc.plugins, auth) })
	}
}

// BenchmarkFiltersBundle is the three filters chained, each loaded from
// filters/bundle.
func BenchmarkFiltersBundle(b *testing.B) {
	auth, jwtP, rlP, trP := benchPluginsFrom(b, true)
	benchChain(b, []*wasm.Plugin{trP, jwtP, rlP}, auth)
}

// BenchmarkFiltersParallel is the same chain with concurrent requests
// (GOMAXPROCS goroutines over the VM pools).
func BenchmarkFiltersParallel(b *testing.B) {
	auth, jwtP, rlP, trP := benchPlugins(b)
	for _, bc := range []struct {
		name    string
		plugins []*wasm.Plugin
	}{
		{"none", nil},
		{"all-three", []*wasm.Plugin{trP, jwtP, rlP}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				streams := make([]*wasm.Stream, len(bc.plugins))
				for pb.Next() {
					req := wasm.Headers{{":method", "GET"}, {":path", "/api/orders"}, {":authority", "svc"},
						{"authorization", auth}, {"x-api-key", "k1"}}
					resp := wasm.Headers{{":status", "200"}}
					for j, p := range bc.plugins {
						streams[j] = p.NewStream(wasm.StreamInfo{RouteName: "orders"})
						if a := streams[j].OnRequestHeaders(&req, true); a != wasm.Continue {
							panic(fmt.Sprint("filter ", j, ": ", a))
						}
					}
					for j := len(bc.plugins) - 1; j >= 0; j-- {
						streams[j].OnResponseHeaders(&resp, true)
					}
					for _, s := range streams {
						s.Done()
					}
				}
			})
		})
	}
}

// rssBytes reads the process's resident set size.
func rssBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm")
	}
	var size, rss int64
	fmt.Sscan(string(raw), &size, &rss)
	return rss * int64(os.Getpagesize())
}

// BenchmarkResidentMemory reports the resident memory the three built-in
// filters add once loaded (pool size 2 each; the pools start with one VM)
// and warmed by 1,000 requests, in MB: added-rss-MB right after a GC (Go's
// free pages not yet returned), settled-rss-MB once they are returned
// (debug.FreeOSMemory), which is what a long-running meshd converges to.
// The measurement is made once per process, on the first call, so that a
// second call (the testing package calls a benchmark with b.N=1 first) does
// not start from the first one's leftovers: run each of the two resident
// memory benchmarks in a process of its own (-bench 'ResidentMemory$').
func BenchmarkResidentMemory(b *testing.B) { reportResident(b, false) }

// BenchmarkResidentMemoryBundle is BenchmarkResidentMemory with the three
// filters loaded from filters/bundle.
func BenchmarkResidentMemoryBundle(b *testing.B) { reportResident(b, true) }

var (
	residentOnce sync.Once
	resident     [3]float64
)

func reportResident(b *testing.B, bundle bool) {
	residentOnce.Do(func() { resident = measureResident(b, bundle) })
	for range b.N {
	}
	b.ReportMetric(resident[0], "added-rss-MB")
	b.ReportMetric(resident[1], "settled-rss-MB")
	b.ReportMetric(resident[2], "total-rss-MB")
}

func measureResident(b *testing.B, bundle bool) [3]float64 {
	runtime.GC()
	debug.FreeOSMemory()
	before := rssBytes(b)
	auth, jwtP, rlP, trP := benchPluginsFrom(b, bundle)
	for i := 0; i < 1000; i++ {
		for _, p := range []*wasm.Plugin{trP, jwtP, rlP} {
			s := p.NewStream(wasm.StreamInfo{RouteName: "orders"})
			s.OnRequestHeaders(&wasm.Headers{{":method", "GET"}, {":path", "/"}, {"authorization", auth}}, true)
			s.Done()
		}
	}
	runtime.GC()
	after := rssBytes(b)
	debug.FreeOSMemory()
	settled := rssBytes(b)
	const mb = 1 << 20
	return [3]float64{float64(after-before) / mb, float64(settled-before) / mb, float64(after) / mb}
}
