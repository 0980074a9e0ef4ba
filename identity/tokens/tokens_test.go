package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmesh/wasmesh/client/jwtauth"
	"github.com/wasmesh/wasmesh/internal/certgen"
)

// issuer is an OAuth2 authorization server for tests: a client-credentials
// token endpoint and a JWKS endpoint, on loopback.
type issuer struct {
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	jwks     *SelfSigned
	lifetime atomic.Int64 // seconds
	down     atomic.Bool
	fetches  atomic.Int32
	active   atomic.Int32
	maxConc  atomic.Int32
	delay    time.Duration
}

func newIssuer(t *testing.T, lifetime int64) *issuer {
	t.Helper()
	is := &issuer{}
	is.lifetime.Store(lifetime)
	is.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", is.token)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { is.jwks.ServeHTTP(w, r) })
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	var err error
	is.jwks, err = NewSelfSigned(SelfSignedConfig{Issuer: is.srv.URL, Subject: "issuer", Key: is.key, KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func (is *issuer) token(w http.ResponseWriter, r *http.Request) {
	n := is.active.Add(1)
	defer is.active.Add(-1)
	for {
		m := is.maxConc.Load()
		if n <= m || is.maxConc.CompareAndSwap(m, n) {
			break
		}
	}
	if is.down.Load() {
		http.Error(w, "issuer down for maintenance", http.StatusServiceUnavailable)
		return
	}
	time.Sleep(is.delay)
	id, secret, ok := r.BasicAuth()
	if !ok || id != "orders" || secret != "s3cret" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"bad client credentials"}`)
		return
	}
	if r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "orders:read orders:write" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	n2 := is.fetches.Add(1)
	life := is.lifetime.Load()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": is.srv.URL, "sub": id, "aud": "payments", "scope": r.FormValue("scope"),
		"iat": now.Unix(), "exp": now.Unix() + life, "n": n2,
	})
	tok.Header["kid"] = "k1"
	s, _ := tok.SignedString(is.key)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": s, "token_type": "Bearer", "expires_in": life})
}

func (is *issuer) source(t *testing.T, refreshBefore time.Duration) *ClientCredentials {
	t.Helper()
	cc, err := NewClientCredentials(ClientCredentialsConfig{
		TokenURL: is.srv.URL + "/token", ClientID: "orders", ClientSecret: "s3cret",
		Scopes: []string{"orders:read", "orders:write"}, RefreshBefore: refreshBefore,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Close)
	return cc
}

func (is *issuer) verifier(t *testing.T) *jwtauth.Verifier {
	t.Helper()
	v, err := jwtauth.New(t.Context(), jwtauth.Config{JWKSURL: is.srv.URL + "/jwks", Algorithms: []string{"ES256"}, Issuer: is.srv.URL, Audience: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestClientCredentialsRefreshesWithoutAFailedCall(t *testing.T) {
	is := newIssuer(t, 2) // 2s tokens, refreshed from 1s before expiry
	cc := is.source(t, time.Second)
	v := is.verifier(t)
	ctx := t.Context()

	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	var failures atomic.Int32
	deadline := time.Now().Add(15 * time.Second)
	for range 4 {
		wg.Go(func() {
			for is.fetches.Load() < 4 && time.Now().Before(deadline) {
				tok, err := cc.Token(ctx)
				if err != nil {
					failures.Add(1)
					t.Errorf("Token: %v", err)
					return
				}
				mu.Lock()
				fresh := !seen[tok]
				seen[tok] = true
				mu.Unlock()
				if fresh {
					// Every token handed out verifies at the receiver.
					if _, err := v.Verify(ctx, tok); err != nil {
						t.Errorf("token does not verify: %v", err)
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if failures.Load() > 0 || is.fetches.Load() < 4 {
		t.Fatalf("failures %d, fetches %d", failures.Load(), is.fetches.Load())
	}
	if len(seen) < int(is.fetches.Load())-1 {
		t.Errorf("callers saw %d distinct tokens over %d refreshes", len(seen), is.fetches.Load())
	}
	if m := is.maxConc.Load(); m != 1 {
		t.Errorf("issuer saw %d concurrent token requests; want single-flight", m)
	}
}

func TestClientCredentialsSingleFlight(t *testing.T) {
	is := newIssuer(t, 60)
	is.delay = 100 * time.Millisecond
	cc := is.source(t, 0)
	var wg sync.WaitGroup
	toks := make([]string, 50)
	for i := range toks {
		wg.Go(func() {
			tok, err := cc.Token(t.Context())
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	if n := is.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for 50 concurrent first calls, want 1", n)
	}
	for _, tok := range toks[1:] {
		if tok != toks[0] {
			t.Fatal("callers got different tokens")
		}
	}
}

func TestClientCredentialsIssuerDown(t *testing.T) {
	is := newIssuer(t, 2)
	cc := is.source(t, time.Second)
	ctx := t.Context()
	first, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fetchedAt := time.Now()
	exp, _ := jwtExpiry(first)
	is.down.Store(true)

	var lastErr error
	served := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		tok, err := cc.Token(ctx)
		if err != nil {
			lastErr = err
			break
		}
		if tok != first {
			t.Fatal("a new token appeared while the issuer is down")
		}
		served++
	}
	if lastErr == nil {
		t.Fatal("Token kept succeeding after the token expired")
	}
	if served == 0 || time.Since(fetchedAt) < time.Second {
		t.Errorf("cached token served %d times for %v; want it served until near expiry", served, time.Since(fetchedAt))
	}
	msg := lastErr.Error()
	for _, want := range []string{"expired at " + exp.UTC().Format(time.RFC3339), "503 Service Unavailable", is.srv.URL + "/token"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if !errors.Is(lastErr, ErrNoToken) {
		t.Errorf("error does not wrap ErrNoToken: %v", lastErr)
	}

	is.down.Store(false)
	var tok string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if tok, err = cc.Token(ctx); err == nil {
			break
		}
	}
	if err != nil || tok == first {
		t.Fatalf("no recovery after the issuer came back: %v", err)
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	is := newIssuer(t, 60)
	cc, _ := NewClientCredentials(ClientCredentialsConfig{TokenURL: is.srv.URL + "/token", ClientID: "orders", ClientSecret: "wrong", Scopes: []string{"orders:read", "orders:write"}})
	defer cc.Close()
	_, err := cc.Token(t.Context())
	if err == nil || !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "invalid_client bad client credentials") {
		t.Errorf("bad secret: %v", err)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	cc2, _ := NewClientCredentials(ClientCredentialsConfig{TokenURL: url + "/token", ClientID: "a", ClientSecret: "b"})
	defer cc2.Close()
	if _, err := cc2.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("dead issuer: %v", err)
	}

	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	cc3, _ := NewClientCredentials(ClientCredentialsConfig{TokenURL: is.srv.URL + "/token", ClientID: "orders", ClientSecretFile: secret, Scopes: []string{"orders:read", "orders:write"}})
	defer cc3.Close()
	if _, err := cc3.Token(t.Context()); err != nil {
		t.Errorf("secret from file: %v", err)
	}

	for _, cfg := range []ClientCredentialsConfig{
		{TokenURL: "ftp://x", ClientID: "a", ClientSecret: "b"},
		{TokenURL: "http://x/token", ClientSecret: "b"},
		{TokenURL: "http://x/token", ClientID: "a"},
		{TokenURL: "http://x/token", ClientID: "a", ClientSecret: "b", ClientSecretFile: "f"},
	} {
		if _, err := NewClientCredentials(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestFileSource(t *testing.T) {
	old := fileCheckEvery
	fileCheckEvery = 0
	defer func() { fileCheckEvery = old }()
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	if _, err := NewFile(p); err == nil {
		t.Fatal("missing file accepted")
	}
	os.WriteFile(p, []byte("  \n"), 0o600)
	if _, err := NewFile(p); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty file: %v", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mint := func(exp time.Time, sub string) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": sub, "exp": exp.Unix()}).SignedString(key)
		return s
	}
	// The kubelet's atomic writer: write a new directory and swap a symlink.
	write := func(tok, gen string) {
		d := filepath.Join(dir, gen)
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "token"), []byte(tok+"\n"), 0o600)
		os.Remove(filepath.Join(dir, "..data_tmp"))
		os.Symlink(gen, filepath.Join(dir, "..data_tmp"))
		os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data"))
	}
	os.Remove(p)
	os.Symlink(filepath.Join("..data", "token"), p)
	t1 := mint(time.Now().Add(time.Hour), "first")
	write(t1, "gen1")
	f, err := NewFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Token(t.Context()); err != nil || got != t1 {
		t.Fatalf("first token: %v", err)
	}
	t2 := mint(time.Now().Add(2*time.Hour), "second-with-longer-subject")
	write(t2, "gen2")
	if got, _ := f.Token(t.Context()); got != t2 {
		t.Fatal("rotated token not picked up")
	}
	// The file vanishing mid-rotation keeps the last good token.
	os.Remove(filepath.Join(dir, "..data"))
	if got, err := f.Token(t.Context()); err != nil || got != t2 {
		t.Fatalf("vanished file: %v", err)
	}
	write(mint(time.Now().Add(-time.Minute), "expired"), "gen3")
	if _, err := f.Token(t.Context()); err == nil || !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("expired token: %v", err)
	}
}

func TestSelfSignedVerifiesAtTheReceiver(t *testing.T) {
	leafKey := func() *ecdsa.PrivateKey {
		ca, _ := certgen.NewCA("test", time.Hour)
		leaf, _ := ca.Issue(certgen.Options{SPIFFEID: "spiffe://example.org/ns/shop/sa/web"})
		k, err := ParseSigningKeyPEM(leaf.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*ecdsa.PrivateKey)
	}()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	keys := map[string]struct {
		key crypto.Signer
		alg string
	}{"generated": {nil, "ES256"}, "workload-key": {leafKey, "ES256"}, "ed25519": {edKey, "EdDSA"}, "rsa": {rsaKey, "RS256"}}
	for name, k := range keys {
		t.Run(name, func(t *testing.T) {
			cfg := SelfSignedConfig{Subject: "spiffe://example.org/ns/shop/sa/web", Lifetime: time.Minute, Claims: map[string]any{"scope": "orders:read"}}
			cfg.Key = k.key
			var ss *SelfSigned
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ss.ServeHTTP(w, r) }))
			defer srv.Close()
			cfg.Issuer = srv.URL
			var err error
			if ss, err = NewSelfSigned(cfg); err != nil {
				t.Fatal(err)
			}
			if ss.Algorithm() != k.alg {
				t.Errorf("alg %s, want %s", ss.Algorithm(), k.alg)
			}
			v, err := jwtauth.New(t.Context(), jwtauth.Config{JWKSURL: srv.URL, Algorithms: []string{k.alg}, Issuer: srv.URL, Audience: "spiffe://example.org/ns/shop/sa/orders"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := WithAudience(t.Context(), "spiffe://example.org/ns/shop/sa/orders")
			tok, err := ss.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("receiver rejects the token: %v", err)
			}
			if claims["sub"] != "spiffe://example.org/ns/shop/sa/web" || claims["scope"] != "orders:read" {
				t.Errorf("claims %v", claims)
			}
			exp, _ := claims.GetExpirationTime()
			if d := time.Until(exp.Time); d > time.Minute || d < 50*time.Second {
				t.Errorf("lifetime %v", d)
			}
			again, _ := ss.Token(ctx)
			if again != tok {
				t.Error("token not reused within half its lifetime")
			}
			other, _ := ss.ForAudience("billing").Token(t.Context())
			if _, err := v.Verify(t.Context(), other); err == nil {
				t.Error("token for another audience accepted")
			}
			if _, err := ss.Token(t.Context()); !errors.Is(err, ErrNoToken) {
				t.Errorf("no audience: %v", err)
			}
		})
	}
	if _, err := NewSelfSigned(SelfSignedConfig{Issuer: "x", Subject: "y", Claims: map[string]any{"exp": 1}}); err == nil {
		t.Error("reserved claim accepted")
	}
	if _, err := NewSelfSigned(SelfSignedConfig{Issuer: "x"}); err == nil {
		t.Error("missing subject accepted")
	}
	if _, err := ParseSigningKeyPEM([]byte("nothing")); err == nil {
		t.Error("garbage key accepted")
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	// The example key of RFC 7638 section 3.1.
	jwk := map[string]any{"kty": "RSA", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	if got := thumbprint(jwk); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("thumbprint %s", got)
	}
}

var _ context.Context

func TestClientCredentialsRefreshesAheadWithoutCallers(t *testing.T) {
	is := newIssuer(t, 2)
	cc := is.source(t, time.Second)
	first, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Nobody calls Token; the refresher alone fetches the next token.
	// (The issuer counts the fetch a moment before the refresher caches
	// the result, so wait for the cache, not the count.)
	for deadline := time.Now().Add(10 * time.Second); is.fetches.Load() < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if is.fetches.Load() < 2 {
		t.Fatal("no background refresh")
	}
	var second string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if second, err = cc.Token(t.Context()); err != nil || second != first {
			break
		}
	}
	if err != nil || second == first {
		t.Fatalf("after background refresh: %v (same token: %v)", err, second == first)
	}
	if n := is.fetches.Load(); n != 2 {
		t.Errorf("Token fetched again (%d fetches) although a fresh token was cached", n)
	}
}
