package dataplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuer is an OAuth2 token endpoint (client-credentials grant) with a
// JWKS endpoint, signing ES256 tokens that live ttl.
type issuer struct {
	addr  string
	key   *ecdsa.PrivateKey
	ttl   time.Duration
	down  atomic.Bool
	count atomic.Int64
	srv   *http.Server
}

func startIssuer(t *testing.T, ttl time.Duration) *issuer {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	is := &issuer{addr: ln.Addr().String(), key: key, ttl: ttl}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if is.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if id, secret, ok := r.BasicAuth(); !ok || id != "meshd-a" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		is.count.Add(1)
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": "test-issuer", "sub": "svc-a", "aud": "orders", "exp": time.Now().Add(is.ttl).Unix(), "iat": time.Now().Unix(),
		})
		tok.Header["kid"] = "k1"
		s, _ := tok.SignedString(key)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": s, "token_type": "Bearer", "expires_in": int(is.ttl.Seconds())})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		b := func(n []byte) string { return base64.RawURLEncoding.EncodeToString(n) }
		x, y := make([]byte, 32), make([]byte, 32)
		key.X.FillBytes(x)
		key.Y.FillBytes(y)
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "x": b(x), "y": b(y)}}})
	})
	is.srv = &http.Server{Handler: mux}
	go is.srv.Serve(ln)
	t.Cleanup(func() { is.srv.Close() })
	return is
}

// TestEgressJWTBetweenTwoMeshd: meshd A fetches a token by client
// credentials and attaches it; meshd B verifies it with jwt-auth (keys
// from the issuer's JWKS); the app behind B sees the caller's identity.
// When the issuer goes down, A keeps using its cached token until it
// expires, then answers 503 with the reason.
func TestEgressJWTBetweenTwoMeshd(t *testing.T) {
	wasmPath := buildFilter(t, "jwt-auth")
	is := startIssuer(t, 4*time.Second)
	app := startBackend(t, "app")
	app.set(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.Header.Get("X-Jwt-Sub")) })
	_, urlB := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
wasm: {call_deadline: 2s}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    filters:
      - name: auth
        wasm: %s
        config:
          issuers: [{issuer: test-issuer, audiences: [orders], jwks_cluster: idp, jwks_path: /jwks}]
          forward_claims: {sub: x-jwt-sub}
    routes: [{match: {prefix: /}, cluster: app}]
clusters:
  - {name: app, endpoints: [{address: %s}]}
  - {name: idp, endpoints: [{address: %s}]}
`, wasmPath, app.addr, is.addr))
	_, urlA := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, cluster: orders}]
clusters:
  - name: orders
    endpoints: [{address: %s}]
    token:
      client_credentials: {token_url: "http://%s/token", client_id: meshd-a, client_secret: s3cret}
`, strings.TrimPrefix(urlB, "http://"), is.addr))

	// Directly to B without a token: refused.
	if code, _, _ := get(t, urlB+"/orders"); code != 401 {
		t.Fatalf("B without a token: %d", code)
	}
	// Through A: the token is attached and verified, with no code in either app.
	if code, body, _ := get(t, urlA+"/orders"); code != 200 || body != "hello svc-a" {
		t.Fatalf("A → B: %d %q", code, body)
	}
	// Across token expiry and refresh, no request fails.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if code, body, _ := get(t, urlA+"/orders"); code != 200 {
			t.Fatalf("during refresh: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if is.count.Load() < 2 {
		t.Errorf("the token was fetched %d time(s); it should have been refreshed", is.count.Load())
	}
	// The issuer goes down: the cached token serves until it expires...
	is.down.Store(true)
	if code, _, _ := get(t, urlA+"/orders"); code != 200 {
		t.Fatalf("right after the issuer went down: %d", code)
	}
	// ... then a clear 503 with the reason.
	var code int
	var body string
	waitFor(t, "the cached token to expire", func() bool {
		code, body, _ = get(t, urlA+"/orders")
		return code == 503
	})
	if !strings.Contains(body, "upstream token unavailable") {
		t.Errorf("503 body %q does not say why", body)
	}
}
