package filtertests

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
)

const issuer = "https://idp.test"

type keySet struct {
	rsa, rsaOther *rsa.PrivateKey
	ec256, ec384  *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
	hs            []byte
}

var (
	keysOnce sync.Once
	keys     keySet
)

func testKeys(t testing.TB) keySet {
	keysOnce.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		keys.rsaOther, _ = rsa.GenerateKey(rand.Reader, 2048)
		keys.ec256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		keys.ec384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, keys.ed, _ = ed25519.GenerateKey(rand.Reader)
		keys.hs = []byte("a-shared-secret-of-32-bytes-long")
	})
	return keys
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func pad(b []byte, n int) []byte { return append(make([]byte, n-len(b)), b...) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kid": kid, "kty": "RSA", "n": b64u(k.N.Bytes()), "e": b64u(big.NewInt(int64(k.E)).Bytes())}
}

func jwks(t testing.TB, ks keySet) []byte {
	ecJWK := func(kid, crv string, k *ecdsa.PublicKey, size int) map[string]string {
		return map[string]string{"kid": kid, "kty": "EC", "crv": crv, "x": b64u(pad(k.X.Bytes(), size)), "y": b64u(pad(k.Y.Bytes(), size))}
	}
	doc := map[string]any{"keys": []map[string]string{
		rsaJWK("r1", &ks.rsa.PublicKey),
		ecJWK("e1", "P-256", &ks.ec256.PublicKey, 32),
		ecJWK("e2", "P-384", &ks.ec384.PublicKey, 48),
		{"kid": "d1", "kty": "OKP", "crv": "Ed25519", "x": b64u(ks.ed.Public().(ed25519.PublicKey))},
		{"kid": "h1", "kty": "oct", "k": b64u(ks.hs)},
	}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mint(t testing.TB, m jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func good(extra ...any) jwt.MapClaims {
	c := jwt.MapClaims{"iss": issuer, "aud": "api", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(-time.Minute).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
		} else {
			c[extra[i].(string)] = extra[i+1]
		}
	}
	return c
}

func jwtPlugin(t testing.TB, r *wasm.Runtime, name string, ks keySet) *wasm.Plugin {
	return newPlugin(t, r, wasm.PluginConfig{Name: name, Wasm: filterWasm(t, "jwt-auth"), Config: []byte(jwtConfig(t, ks, "")), PoolSize: 2}, nil)
}

// jwtConfig is the jwt-auth configuration of the tests; extra is inserted
// as the first keys of the object (for the bundle's "filter").
func jwtConfig(t testing.TB, ks keySet, extra string) string {
	return fmt.Sprintf(`{%s
		"issuers": [{"issuer": %q, "audiences": ["api"], "jwks": %s}],
		"from": [{"header": "authorization", "prefix": "Bearer "}, {"header": "x-token"}, {"cookie": "jwt"}, {"query": "access_token"}],
		"rules": [{"prefix": "/public", "mode": "bypass"}, {"prefix": "/maybe", "mode": "optional"}],
		"forward_claims": {"sub": "x-jwt-sub"},
		"strip_token": true,
		"clock_skew_seconds": 30
	}`, extra, issuer, jwks(t, ks))
}

func TestJWTAccepts(t *testing.T) {
	ks := testKeys(t)
	r := newRuntime(t, wasm.RuntimeConfig{})
	p := jwtPlugin(t, r, "jwt-accept", ks)
	tests := []struct {
		name string
		tok  string
		via  func(tok string) *wasm.Headers
	}{
		{"RS256", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good()), nil},
		{"RS384", mint(t, jwt.SigningMethodRS384, "r1", ks.rsa, good()), nil},
		{"RS512", mint(t, jwt.SigningMethodRS512, "r1", ks.rsa, good()), nil},
		{"PS256", mint(t, jwt.SigningMethodPS256, "r1", ks.rsa, good()), nil},
		{"ES256", mint(t, jwt.SigningMethodES256, "e1", ks.ec256, good()), nil},
		{"ES384", mint(t, jwt.SigningMethodES384, "e2", ks.ec384, good()), nil},
		{"EdDSA", mint(t, jwt.SigningMethodEdDSA, "d1", ks.ed, good()), nil},
		{"HS256", mint(t, jwt.SigningMethodHS256, "h1", ks.hs, good()), nil},
		{"no kid", mint(t, jwt.SigningMethodRS256, "", ks.rsa, good()), nil},
		{"aud list", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("aud", []string{"other", "api"})), nil},
		{"within skew", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("exp", time.Now().Add(-10*time.Second).Unix())), nil},
		{"other header", mint(t, jwt.SigningMethodES256, "e1", ks.ec256, good()), func(tok string) *wasm.Headers { return request("/api", "x-token", tok) }},
		{"cookie", mint(t, jwt.SigningMethodES256, "e1", ks.ec256, good()), func(tok string) *wasm.Headers { return request("/api", "cookie", "a=1; jwt="+tok) }},
		{"query", mint(t, jwt.SigningMethodES256, "e1", ks.ec256, good()), func(tok string) *wasm.Headers { return request("/api?x=1&access_token=" + tok) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // the second pass hits the verified-token cache
				h := request("/api", "authorization", "Bearer "+tt.tok, "x-jwt-sub", "forged")
				if tt.via != nil {
					h = tt.via(tt.tok)
				}
				a, s := run(t, p, wasm.StreamInfo{}, h)
				s.Done()
				if a != wasm.Continue {
					t.Fatalf("pass %d: action %v, local %+v", i, a, s.LocalResponse())
				}
				if v, _ := h.Get("x-jwt-sub"); v != "alice" {
					t.Fatalf("x-jwt-sub = %q", v)
				}
				if _, ok := h.Get("authorization"); ok {
					t.Fatal("token not stripped from authorization")
				}
				if v, _ := h.Get("cookie"); strings.Contains(v, "jwt=") {
					t.Fatalf("token not stripped from cookie: %q", v)
				}
				if v, _ := h.Get(":path"); strings.Contains(v, "access_token") {
					t.Fatalf("token not stripped from query: %q", v)
				}
			}
		})
	}
	if n, _ := r.MetricValue("jwt_auth.cache_hits"); n < int64(len(tests)) {
		t.Fatalf("cache hits = %d, want >= %d", n, len(tests))
	}
}

func TestJWTRefuses(t *testing.T) {
	ks := testKeys(t)
	r := newRuntime(t, wasm.RuntimeConfig{})
	p := jwtPlugin(t, r, "jwt-refuse", ks)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&ks.rsa.PublicKey))})
	none := mint(t, jwt.SigningMethodNone, "r1", jwt.UnsafeAllowNoneSignatureType, good())
	valid := mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good())
	parts := strings.Split(valid, ".")
	tamperedPayload := b64u([]byte(`{"iss":"` + issuer + `","aud":"api","sub":"mallory","exp":9999999999}`))
	tests := []struct {
		name, tok, want string
	}{
		{"alg none", none, "alg"},
		{"alg none no sig dot", strings.TrimSuffix(none, "."), "malformed"},
		{"HS256 signed with the RSA public key", mint(t, jwt.SigningMethodHS256, "r1", pubPEM, good()), "signature"},
		{"HS256 with RSA public key, no kid", mint(t, jwt.SigningMethodHS256, "", pubPEM, good()), "signature"},
		{"signed by another key", mint(t, jwt.SigningMethodRS256, "r1", ks.rsaOther, good()), "signature"},
		{"tampered payload", parts[0] + "." + tamperedPayload + "." + parts[2], "signature"},
		{"ES256 sig on ES384 key", mint(t, jwt.SigningMethodES256, "e2", ks.ec256, good()), "signature"},
		{"expired", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("exp", time.Now().Add(-time.Hour).Unix())), "expired"},
		{"not yet valid", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("nbf", time.Now().Add(time.Hour).Unix())), "not yet valid"},
		{"wrong issuer", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("iss", "https://evil.test")), "issuer"},
		{"no issuer", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("iss", nil)), "issuer"},
		{"wrong audience", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("aud", "billing")), "audience"},
		{"no audience", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("aud", nil)), "audience"},
		{"unknown kid", mint(t, jwt.SigningMethodRS256, "zz", ks.rsa, good()), "no key"},
		{"unsupported alg", mint(t, jwt.SigningMethodES512, "e1", must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader)), good()), "alg"},
		{"exp wrong type", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("exp", "tomorrow")), "malformed"},
		{"aud wrong type", mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good("aud", 7)), "malformed"},
		{"one part", "abc", "malformed"},
		{"two parts", "abc.def", "malformed"},
		{"four parts", valid + ".x", "malformed"},
		{"dots only", "..", "malformed"},
		{"bad base64", "!!!.###.$$$", "malformed"},
		{"header not json", b64u([]byte("nope")) + "." + parts[1] + "." + parts[2], "malformed"},
		{"payload array", parts[0] + "." + b64u([]byte("[1,2]")) + "." + parts[2], "malformed"},
		{"payload null", parts[0] + "." + b64u([]byte("null")) + "." + parts[2], "malformed"},
		{"empty signature", parts[0] + "." + parts[1] + ".", "signature"},
		{"huge", strings.Repeat("a", 20000) + ".b.c", "malformed"},
		{"binary junk", "\x00\xff.\x01.\x02", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := request("/api", "authorization", "Bearer "+tt.tok)
			a, s := run(t, p, wasm.StreamInfo{}, h)
			s.Done()
			lr := s.LocalResponse()
			if a != wasm.SendLocalResponse || lr == nil || lr.Status != 401 {
				t.Fatalf("action %v, local %+v", a, lr)
			}
			var challenge string
			for _, kv := range lr.Headers {
				if kv[0] == "www-authenticate" {
					challenge = kv[1]
				}
			}
			if !strings.HasPrefix(challenge, `Bearer realm="wasmesh", error="invalid_token"`) || !strings.Contains(challenge, tt.want) {
				t.Fatalf("WWW-Authenticate = %q, want it to mention %q", challenge, tt.want)
			}
		})
	}
	// The filter survived every case: a good token still passes.
	a, s := run(t, p, wasm.StreamInfo{}, request("/api", "authorization", "Bearer "+valid))
	s.Done()
	if a != wasm.Continue {
		t.Fatalf("valid token after refusals: %v", a)
	}
}

func TestJWTRules(t *testing.T) {
	ks := testKeys(t)
	r := newRuntime(t, wasm.RuntimeConfig{})
	p := jwtPlugin(t, r, "jwt-rules", ks)
	bad := "Bearer not.a.token"
	tests := []struct {
		name   string
		h      *wasm.Headers
		status int // 0: continue
		chal   string
	}{
		{"required, missing", request("/api"), 401, `Bearer realm="wasmesh"`},
		{"bypass, missing", request("/public/x"), 0, ""},
		{"bypass, invalid", request("/public/x", "authorization", bad), 0, ""},
		{"optional, missing", request("/maybe"), 0, ""},
		{"optional, invalid", request("/maybe", "authorization", bad), 401, `Bearer realm="wasmesh", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s := run(t, p, wasm.StreamInfo{}, tt.h)
			s.Done()
			if tt.status == 0 {
				if a != wasm.Continue {
					t.Fatalf("action %v", a)
				}
				return
			}
			lr := s.LocalResponse()
			if a != wasm.SendLocalResponse || lr.Status != tt.status || !strings.HasPrefix(lr.Headers[0][1], tt.chal) {
				t.Fatalf("action %v, local %+v", a, lr)
			}
		})
	}
}

// TestJWTRemoteJWKS fetches keys with proxy_http_call, and refetches when a
// token names a kid the cache lacks (key rotation).
func TestJWTRemoteJWKS(t *testing.T) {
	ks := testKeys(t)
	var mu sync.Mutex
	served := []map[string]string{rsaJWK("r1", &ks.rsa.PublicKey)}
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		if req.URL.Path != "/jwks.json" {
			w.WriteHeader(404)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": served})
	}))
	defer srv.Close()
	r := newRuntime(t, wasm.RuntimeConfig{})
	cfg := fmt.Sprintf(`{"issuers": [{"issuer": %q, "jwks_cluster": "idp", "jwks_path": "/jwks.json", "refresh_seconds": 3600}]}`, issuer)
	p := newPlugin(t, r, wasm.PluginConfig{Name: "jwt-remote", Wasm: filterWasm(t, "jwt-auth"), Config: []byte(cfg), PoolSize: 1},
		netHost{clusters: map[string]string{"idp": srv.URL}})
	tok := mint(t, jwt.SigningMethodRS256, "r1", ks.rsa, good())
	a, s := run(t, p, wasm.StreamInfo{}, request("/", "authorization", "Bearer "+tok))
	s.Done()
	if a != wasm.Continue {
		t.Fatalf("first token: %v %+v", a, s.LocalResponse())
	}
	// Rotate: the issuer now signs with r2.
	mu.Lock()
	served = append(served, rsaJWK("r2", &ks.rsaOther.PublicKey))
	mu.Unlock()
	time.Sleep(1100 * time.Millisecond) // past the refetch guard
	tok2 := mint(t, jwt.SigningMethodRS256, "r2", ks.rsaOther, good())
	a, s = run(t, p, wasm.StreamInfo{}, request("/", "authorization", "Bearer "+tok2))
	s.Done()
	if a != wasm.Continue {
		t.Fatalf("rotated token: %v %+v", a, s.LocalResponse())
	}
	mu.Lock()
	defer mu.Unlock()
	if fetches < 2 {
		t.Fatalf("JWKS fetched %d times, want a refetch", fetches)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
