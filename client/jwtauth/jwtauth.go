package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/internal/jwks"
)

// Config says which tokens are accepted. Exactly one of JWKSURL, Keys and
// Key must be set.
type Config struct {
	// JWKSURL is the issuer's key set, fetched at start and refreshed.
	JWKSURL string
	// JWKSRefresh is how often the set is fetched again (0: 5 minutes).
	JWKSRefresh time.Duration
	// JWKSMinInterval is the least time between two fetches caused by
	// tokens with an unknown key id (0: 10s), so garbage tokens cannot
	// make the verifier hammer the issuer.
	JWKSMinInterval time.Duration
	// Keys are public keys (or HMAC secrets as []byte) by key id.
	Keys map[string]any
	// Key is the one key used whatever the token's kid.
	Key any
	// Algorithms accepted, e.g. RS256, ES256, EdDSA, HS256. Required:
	// never let the token choose.
	Algorithms []string
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
}

// Verifier checks tokens. Safe for concurrent use.
type Verifier struct {
	cfg    Config
	cache  *jwks.Cache
	parser *jwt.Parser
}

// New builds a Verifier; with a JWKS URL it fetches the set now.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	n := 0
	for _, set := range []bool{cfg.JWKSURL != "", len(cfg.Keys) > 0, cfg.Key != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("jwtauth: set exactly one of JWKSURL, Keys and Key")
	}
	if len(cfg.Algorithms) == 0 {
		return nil, errors.New("jwtauth: Algorithms is required")
	}
	v := &Verifier{cfg: cfg}
	if cfg.JWKSURL != "" {
		c, err := jwks.NewCache(ctx, cfg.JWKSURL, nil, cfg.JWKSRefresh, cfg.JWKSMinInterval)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: %w", err)
		}
		v.cache = c
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(cfg.Algorithms), jwt.WithLeeway(cfg.Leeway), jwt.WithExpirationRequired()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// ErrNoToken is returned when a request carries no bearer token.
var ErrNoToken = fmt.Errorf("%w: no bearer token", client.ErrUnauthenticated)

// Verify checks token and returns its claims. Every failure matches
// client.ErrUnauthenticated.
func (v *Verifier) Verify(ctx context.Context, token string) (jwt.MapClaims, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		switch {
		case v.cfg.Key != nil:
			return v.cfg.Key, nil
		case v.cache != nil:
			return v.cache.Key(ctx, kid)
		}
		k, ok := v.cfg.Keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", client.ErrUnauthenticated, err)
	}
	return claims, nil
}

// BearerToken extracts the token from an Authorization header value.
func BearerToken(header string) string {
	const p = "bearer "
	if len(header) > len(p) && strings.EqualFold(header[:len(p)], p) {
		return strings.TrimSpace(header[len(p):])
	}
	return ""
}

type claimsKey struct{}

// WithClaims stores verified claims in ctx.
func WithClaims(ctx context.Context, c jwt.MapClaims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims a verifying interceptor or
// middleware stored, so a handler can authorize on them.
func ClaimsFromContext(ctx context.Context) (jwt.MapClaims, bool) {
	c, ok := ctx.Value(claimsKey{}).(jwt.MapClaims)
	return c, ok
}

// Middleware rejects HTTP requests without a valid bearer token with 401
// and passes the others on with their claims in the context.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := v.Verify(r.Context(), BearerToken(r.Header.Get("Authorization")))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
	})
}
