package jwtauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
	"github.com/wasmesh/wasmesh/wasm-sdk/sdktest"
)

// These native tests cover the filter's logic with HS256 tokens built here;
// the host-side tests in dataplane/wasm/filtertests cover every algorithm
// and refusal with tokens minted by golang-jwt.

const secret = "native-test-secret-0123456789abc"

func hs256(t *testing.T, header, payload string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(m.Sum(nil))
}

func newHost(t *testing.T, now time.Time) *sdktest.Host {
	t.Helper()
	k := base64.RawURLEncoding.EncodeToString([]byte(secret))
	cfg := `{"issuers": [{"issuer": "me", "jwks": {"keys": [{"kty": "oct", "kid": "k", "k": "` + k + `"}]}}],
		"rules": [{"prefix": "/open", "mode": "bypass"}], "forward_claims": {"sub": "x-sub"}, "clock_skew_seconds": 10}`
	h, err := sdktest.New(sdktest.Options{Config: []byte(cfg), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNativeVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := newHost(t, now)
	tests := []struct {
		name, payload, path string
		status              int
	}{
		{"valid", `{"iss":"me","sub":"ann","exp":1800000100}`, "/x", 0},
		{"expired beyond skew", `{"iss":"me","sub":"ann","exp":1799999980}`, "/x", 401},
		{"expired within skew", `{"iss":"me","sub":"ann","exp":1799999995}`, "/x", 0},
		{"nbf in the future", `{"iss":"me","nbf":1800000100}`, "/x", 401},
		{"other issuer", `{"iss":"you"}`, "/x", 401},
		{"bypass", `{"iss":"you"}`, "/open/y", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.NewStream(nil)
			tok := hs256(t, `{"alg":"HS256","kid":"k"}`, tt.payload)
			a := s.SendRequestHeaders([][2]string{{":method", "GET"}, {":path", tt.path}, {"authorization", "Bearer " + tok}}, true)
			s.Done()
			if tt.status == 0 {
				if a != sdk.Continue || s.Local != nil {
					t.Fatalf("refused: %+v", s.Local)
				}
				return
			}
			if s.Local == nil || s.Local.Status != tt.status || !strings.Contains(s.Local.Header("www-authenticate"), "invalid_token") {
				t.Fatalf("local = %+v", s.Local)
			}
		})
	}
	if n, _ := h.Metric("jwt_auth.denied"); n != 3 {
		t.Fatalf("denied = %d", n)
	}
}

func TestNativeConfigErrors(t *testing.T) {
	for _, cfg := range []string{
		`{}`,
		`{"issuers": [{"issuer": "x"}]}`,
		`{"issuers": [{"issuer": "x", "jwks_cluster": "c"}]}`,
		`{"issuers": [{"issuer": "x", "jwks": {"keys": []}}], "from": [{"header": "a", "cookie": "b"}]}`,
		`{"issuers": [{"issuer": "x", "jwks": {"keys": []}}], "rules": [{"prefix": "/", "mode": "maybe"}]}`,
		`{"issuers": [{"issuer": "x", "jwks": {"keys": []}}], "unknown": 1}`,
	} {
		if _, err := parseConfig([]byte(cfg)); err == nil {
			t.Errorf("config %s accepted", cfg)
		}
	}
}

func TestModeLongestPrefix(t *testing.T) {
	c := &config{Rules: []ruleConfig{{"/a", modeBypass}, {"/a/b", modeOptional}}}
	for path, want := range map[string]string{"/a/x": modeBypass, "/a/b/c?q": modeOptional, "/z": modeRequired} {
		if got := c.mode(path); got != want {
			t.Errorf("mode(%s) = %s, want %s", path, got, want)
		}
	}
}
