package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/jwtauth"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
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

func valid() jwt.MapClaims {
	return jwt.MapClaims{"sub": "svc-a", "iss": "mesh", "aud": "orders", "exp": time.Now().Add(time.Minute).Unix()}
}

// TestJWKS serves an EC and an Ed25519 key as a JWKS, rotates in a new
// key, and checks tokens signed by each.
func TestJWKS(t *testing.T) {
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecJWK := func(kid string, k *ecdsa.PrivateKey) map[string]string {
		b, _ := k.PublicKey.Bytes() // uncompressed point 0x04 || X || Y
		return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(b[1:33]), "y": b64(b[33:])}
	}
	var rotated atomic.Bool
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		keys := []map[string]string{ecJWK("ec1", ec1), {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(edPub)},
			{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}}
		if rotated.Load() {
			keys = append(keys, ecJWK("ec2", ec2))
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	defer srv.Close()
	v, err := jwtauth.New(context.Background(), jwtauth.Config{JWKSURL: srv.URL, Algorithms: []string{"ES256", "EdDSA"}, Issuer: "mesh", Audience: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"ES256", sign(t, jwt.SigningMethodES256, ec1, "ec1", valid()), true},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", valid()), true},
		{"wrong key for kid", sign(t, jwt.SigningMethodES256, ec2, "ec1", valid()), false},
		{"algorithm not allowed", sign(t, jwt.SigningMethodHS256, []byte("secret-secret-secret-secret-1234"), "ec1", valid()), false},
		{"wrong audience", sign(t, jwt.SigningMethodES256, ec1, "ec1", jwt.MapClaims{"iss": "mesh", "aud": "other", "exp": time.Now().Add(time.Minute).Unix()}), false},
		{"no expiry", sign(t, jwt.SigningMethodES256, ec1, "ec1", jwt.MapClaims{"iss": "mesh", "aud": "orders"}), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := v.Verify(ctx, tt.token)
			if tt.ok {
				if err != nil || claims["sub"] != "svc-a" {
					t.Fatalf("claims %v, err %v", claims, err)
				}
				return
			}
			if !errors.Is(err, client.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
		})
	}
	// Unknown key ids do not make the verifier hammer the issuer: within
	// JWKSMinInterval (default 10s) of the last fetch, no new fetch.
	before := fetches.Load()
	for range 5 {
		if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodES256, ec2, "ec2", valid())); err == nil {
			t.Fatal("unpublished key accepted")
		}
	}
	if fetches.Load() != before {
		t.Fatalf("unknown kids caused %d fetches", fetches.Load()-before)
	}
	// A key published after start: the unknown kid makes the verifier
	// fetch the set again, and the token passes.
	fast, err := jwtauth.New(ctx, jwtauth.Config{JWKSURL: srv.URL, Algorithms: []string{"ES256"}, JWKSMinInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodES256, ec2, "ec2", valid())
	if _, err := fast.Verify(ctx, tok); err == nil {
		t.Fatal("unpublished key accepted")
	}
	rotated.Store(true)
	time.Sleep(2 * time.Millisecond) // past JWKSMinInterval
	if _, err := fast.Verify(ctx, tok); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
}

func TestStaticKeysAndMiddleware(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := jwtauth.New(context.Background(), jwtauth.Config{Keys: map[string]any{"a": secret}, Algorithms: []string{"HS256"}})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := jwtauth.ClaimsFromContext(r.Context())
		w.Write([]byte(c["sub"].(string)))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		name, auth string
		code       int
	}{
		{"valid", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "a", valid()), 200},
		{"lower-case scheme", "bearer " + sign(t, jwt.SigningMethodHS256, secret, "a", valid()), 200},
		{"unknown kid", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "b", valid()), 401},
		{"no header", "", 401},
		{"basic", "Basic abc", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
		})
	}
}

// TestSDKTokenVerified: the HTTP transport's token source and the
// verifier meet over a real request through the SDK.
func TestSDKTokenVerified(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, _ := jwtauth.New(context.Background(), jwtauth.Config{Key: secret, Algorithms: []string{"HS256"}})
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	defer srv.Close()
	res := client.NewStaticResolver(map[string][]client.Endpoint{"orders": {{Address: srv.Listener.Addr().String()}}})
	for _, tt := range []struct {
		name  string
		token client.StaticToken
		code  int
	}{
		{"good", client.StaticToken(sign(t, jwt.SigningMethodHS256, secret, "", valid())), 200},
		{"bad", client.StaticToken(sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", valid())), 401},
	} {
		tr, err := client.NewTransport(res, client.WithTokenSource(tt.token))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr}).Get("http://orders/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s token: status %d, want %d", tt.name, resp.StatusCode, tt.code)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]jwtauth.Config{
		"no key":        {Algorithms: []string{"HS256"}},
		"two key kinds": {Key: []byte("x"), Keys: map[string]any{"a": []byte("y")}, Algorithms: []string{"HS256"}},
		"no algorithms": {Key: []byte("x")},
		"jwks down":     {JWKSURL: "http://127.0.0.1:1/jwks", Algorithms: []string{"RS256"}},
	} {
		if _, err := jwtauth.New(ctx, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
