package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// SelfSignedConfig configures a SelfSigned source.
type SelfSignedConfig struct {
	// Issuer is the iss claim: the URL the receiver trusts, usually
	// where this meshd serves the JWKS (or the SPIFFE ID itself).
	Issuer string
	// Subject is the sub claim: this workload's SPIFFE ID.
	Subject string
	// Audience is the aud claim when the context names none
	// (WithAudience); one of them must be set per call.
	Audience string
	// Lifetime of each token (0: 5 minutes). A token is reused for half
	// of it, so signing happens at most twice per lifetime and audience.
	Lifetime time.Duration
	// Key signs the tokens: *ecdsa.PrivateKey (P-256/384/521),
	// ed25519.PrivateKey or *rsa.PrivateKey. Nil makes a fresh P-256 key,
	// which is fine because the JWKS is served from this process.
	Key crypto.Signer
	// KeyID is the kid header (empty: the key's RFC 7638 thumbprint).
	KeyID string
	// Claims are extra claims added to every token (not iss, sub, aud,
	// iat, nbf, exp or jti).
	Claims map[string]any
}

// SelfSigned mints short-lived JWTs for the local identity and publishes
// the public key as a JWKS, so a receiving meshd's jwt-auth filter (or
// client/jwtauth) verifies them with no issuer in between.
type SelfSigned struct {
	cfg    SelfSignedConfig
	method jwt.SigningMethod
	jwks   []byte

	mu    sync.Mutex
	cache map[string]cachedToken // by audience; audiences come from config, so few
}

var reservedClaims = map[string]bool{"iss": true, "sub": true, "aud": true, "iat": true, "nbf": true, "exp": true, "jti": true}

// NewSelfSigned checks cfg and prepares the key and its JWKS.
func NewSelfSigned(cfg SelfSignedConfig) (*SelfSigned, error) {
	if cfg.Issuer == "" || cfg.Subject == "" {
		return nil, errors.New("tokens: self-signed tokens need an issuer and a subject")
	}
	for k := range cfg.Claims {
		if reservedClaims[k] {
			return nil, fmt.Errorf("tokens: claim %q is set by the source and cannot be configured", k)
		}
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 5 * time.Minute
	}
	if cfg.Key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("tokens: generate key: %w", err)
		}
		cfg.Key = k
	}
	jwk, method, err := publicJWK(cfg.Key.Public())
	if err != nil {
		return nil, err
	}
	if cfg.KeyID == "" {
		cfg.KeyID = thumbprint(jwk)
	}
	jwk["kid"], jwk["alg"], jwk["use"] = cfg.KeyID, method.Alg(), "sig"
	set, err := json.Marshal(map[string]any{"keys": []any{jwk}})
	if err != nil {
		return nil, fmt.Errorf("tokens: encode jwks: %w", err)
	}
	return &SelfSigned{cfg: cfg, method: method, jwks: set, cache: map[string]cachedToken{}}, nil
}

// Token returns a token for the audience in ctx (WithAudience) or the
// configured one.
func (s *SelfSigned) Token(ctx context.Context) (string, error) {
	aud := AudienceFrom(ctx)
	if aud == "" {
		aud = s.cfg.Audience
	}
	return s.TokenFor(aud)
}

// ForAudience returns a Source whose tokens are addressed to audience,
// for a cluster that always calls the same service.
func (s *SelfSigned) ForAudience(audience string) Source {
	return audienceSource{s, audience}
}

type audienceSource struct {
	s   *SelfSigned
	aud string
}

func (a audienceSource) Token(context.Context) (string, error) { return a.s.TokenFor(a.aud) }

// TokenFor returns a token addressed to audience, reusing a cached one
// for up to half its lifetime.
func (s *SelfSigned) TokenFor(audience string) (string, error) {
	if audience == "" {
		return "", fmt.Errorf("tokens: %w: self-signed token needs an audience (the target service)", ErrNoToken)
	}
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[audience]
	s.mu.Unlock()
	if ok && now.Before(c.refreshAt) {
		return c.tok, nil
	}
	claims := jwt.MapClaims{}
	for k, v := range s.cfg.Claims {
		claims[k] = v
	}
	exp := now.Add(s.cfg.Lifetime)
	claims["iss"], claims["sub"], claims["aud"] = s.cfg.Issuer, s.cfg.Subject, audience
	claims["iat"], claims["nbf"], claims["exp"] = now.Unix(), now.Add(-5*time.Second).Unix(), exp.Unix()
	claims["jti"] = uuid.NewString()
	t := jwt.NewWithClaims(s.method, claims)
	t.Header["kid"] = s.cfg.KeyID
	tok, err := t.SignedString(s.cfg.Key)
	if err != nil {
		return "", fmt.Errorf("tokens: %w: sign: %w", ErrNoToken, err)
	}
	s.mu.Lock()
	s.cache[audience] = cachedToken{tok: tok, expiresAt: exp, usableTo: exp, refreshAt: now.Add(s.cfg.Lifetime / 2)}
	s.mu.Unlock()
	return tok, nil
}

// KeyID is the kid the tokens carry.
func (s *SelfSigned) KeyID() string { return s.cfg.KeyID }

// PublicKey is the key receivers verify with.
func (s *SelfSigned) PublicKey() crypto.PublicKey { return s.cfg.Key.Public() }

// Algorithm is the JWS algorithm (ES256, EdDSA, RS256 ...), which the
// receiver's jwt-auth must list.
func (s *SelfSigned) Algorithm() string { return s.method.Alg() }

// JWKS is the public key set as JSON ({"keys":[...]}).
func (s *SelfSigned) JWKS() []byte { return s.jwks }

// ServeHTTP serves the JWKS, so meshd can mount it (for example at
// /.well-known/jwks.json) for receivers' jwt-auth to fetch.
func (s *SelfSigned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(s.jwks)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// publicJWK describes pub as a JWK (only the members RFC 7638 hashes)
// and picks the signing method for it.
func publicJWK(pub crypto.PublicKey) (map[string]any, jwt.SigningMethod, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ek, err := k.ECDH()
		if err != nil {
			return nil, nil, fmt.Errorf("tokens: key: %w", err)
		}
		raw := ek.Bytes() // 0x04 || X || Y
		n := (len(raw) - 1) / 2
		var crv string
		var m jwt.SigningMethod
		switch k.Curve {
		case elliptic.P256():
			crv, m = "P-256", jwt.SigningMethodES256
		case elliptic.P384():
			crv, m = "P-384", jwt.SigningMethodES384
		case elliptic.P521():
			crv, m = "P-521", jwt.SigningMethodES512
		default:
			return nil, nil, errors.New("tokens: unsupported elliptic curve")
		}
		return map[string]any{"kty": "EC", "crv": crv, "x": b64(raw[1 : 1+n]), "y": b64(raw[1+n:])}, m, nil
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(k)}, jwt.SigningMethodEdDSA, nil
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}, jwt.SigningMethodRS256, nil
	}
	return nil, nil, fmt.Errorf("tokens: unsupported key type %T", pub)
}

// thumbprint is the RFC 7638 JWK thumbprint: SHA-256 over the required
// members in lexicographic order (encoding/json sorts map keys).
func thumbprint(jwk map[string]any) string {
	b, _ := json.Marshal(jwk)
	sum := sha256.Sum256(b)
	return b64(sum[:])
}

// ParseSigningKeyPEM reads a PEM private key (PKCS#8, SEC 1 "EC PRIVATE
// KEY" or PKCS#1 "RSA PRIVATE KEY"), such as the tls.key that
// cert-manager writes, so meshd can sign with its workload key.
func ParseSigningKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return nil, errors.New("tokens: no private key in PEM data")
		}
		var k any
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tokens: parse %s: %w", blk.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("tokens: %T cannot sign", k)
		}
		return s, nil
	}
}
