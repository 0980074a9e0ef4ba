package filtertests

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
)

// TestBundleRunsEachFilter loads the three filters from filters/bundle into
// one runtime and checks that each plugin acts as its filter.
func TestBundleRunsEachFilter(t *testing.T) {
	ks := testKeys(t)
	r := newRuntime(t, wasm.RuntimeConfig{})
	bin := filterWasm(t, "bundle")
	jwtP := newPlugin(t, r, wasm.PluginConfig{Name: "bundle-jwt", Wasm: bin, Config: []byte(jwtConfig(t, ks, `"filter": "jwt-auth",`)), PoolSize: 2}, nil)
	rlP := newPlugin(t, r, wasm.PluginConfig{Name: "bundle-rl", Wasm: bin, PoolSize: 2,
		Config: []byte(`{"filter": "rate-limit", "key": ["header:x-api-key"], "local": {"requests": 1, "per_seconds": 3600, "burst": 2}}`)}, nil)
	trP := newPlugin(t, r, wasm.PluginConfig{Name: "bundle-tracing", Wasm: bin, Config: []byte(`{"filter": "tracing"}`), PoolSize: 2}, nil)

	tok := mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good())
	tests := []struct {
		name   string
		p      *wasm.Plugin
		h      *wasm.Headers
		status int // 0: the request continues
		header string
		want   string // value of header after the filter ("" only checks presence)
	}{
		{"jwt-auth accepts a valid token", jwtP, request("/api", "authorization", "Bearer "+tok), 0, "x-jwt-sub", "alice"},
		{"jwt-auth refuses no token", jwtP, request("/api"), 401, "", ""},
		{"rate-limit admits the burst", rlP, request("/", "x-api-key", "b1"), 0, "", ""},
		{"rate-limit admits the burst (2)", rlP, request("/", "x-api-key", "b1"), 0, "", ""},
		{"rate-limit refuses past the burst", rlP, request("/", "x-api-key", "b1"), 429, "", ""},
		{"tracing starts a trace", trP, request("/"), 0, "traceparent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s := run(t, tt.p, wasm.StreamInfo{}, tt.h)
			defer s.Done()
			if tt.status != 0 {
				if a != wasm.SendLocalResponse || s.LocalResponse().Status != tt.status {
					t.Fatalf("action %v, local %+v; want local response %d", a, s.LocalResponse(), tt.status)
				}
				return
			}
			if a != wasm.Continue {
				t.Fatalf("action %v, local %+v; want continue", a, s.LocalResponse())
			}
			if tt.header == "" {
				return
			}
			v, ok := tt.h.Get(tt.header)
			if !ok || (tt.want != "" && v != tt.want) {
				t.Errorf("%s = %q (present %v), want %q", tt.header, v, ok, tt.want)
			}
		})
	}
}

// TestBundleRefusesBadConfig: the bundle needs a JSON object naming a known
// filter, and passes the filter's own refusal on.
func TestBundleRefusesBadConfig(t *testing.T) {
	r := newRuntime(t, wasm.RuntimeConfig{})
	bin := filterWasm(t, "bundle")
	for _, tt := range []struct{ name, cfg string }{
		{"no filter key", `{"key": ["route"]}`},
		{"unknown filter", `{"filter": "gzip"}`},
		{"not an object", `[1]`},
		{"filter refuses", `{"filter": "rate-limit", "local": {"requests": -1}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.NewPlugin(context.Background(), wasm.PluginConfig{Name: "bundle-bad", Wasm: bin, Config: []byte(tt.cfg), PoolSize: 1}, nil)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("NewPlugin accepted the configuration")
			}
			if !strings.Contains(err.Error(), "proxy_on_configure") {
				t.Errorf("error %q does not name the refused configuration", err)
			}
		})
	}
}
