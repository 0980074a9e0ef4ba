package jwks

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// Key is one JSON Web Key, the fields this package reads.
type Key struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// Parse decodes a key set into public keys by key id. Keys of a kind it
// does not know, or for encryption (use "enc"), are skipped.
func Parse(b []byte) (map[string]any, error) {
	var set struct {
		Keys []Key `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]any{}
	for i, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		pub, err := k.Public()
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d (kid %q): %w", i, k.Kid, err)
		}
		if pub != nil {
			out[k.Kid] = pub
		}
	}
	return out, nil
}

// Public returns the key's public key, nil for an unknown kty.
func (k Key) Public() (any, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64int(k.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(k.E)
		if err != nil {
			return nil, fmt.Errorf("e: %w", err)
		}
		if !e.IsInt64() || e.Int64() < 3 {
			return nil, errors.New("bad exponent")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		var c elliptic.Curve
		var ec ecdh.Curve
		switch k.Crv {
		case "P-256":
			c, ec = elliptic.P256(), ecdh.P256()
		case "P-384":
			c, ec = elliptic.P384(), ecdh.P384()
		case "P-521":
			c, ec = elliptic.P521(), ecdh.P521()
		default:
			return nil, fmt.Errorf("unknown curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := b64(k.Y)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		size := (c.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, errors.New("bad coordinate length")
		}
		point := append(append([]byte{4}, x...), y...)
		if _, err := ec.NewPublicKey(point); err != nil { // checks the point is on the curve
			return nil, fmt.Errorf("bad point: %w", err)
		}
		return &ecdsa.PublicKey{Curve: c, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unknown curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func b64int(s string) (*big.Int, error) {
	b, err := b64(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}

// Cache holds the keys of one JWKS URL.
type Cache struct {
	url     string
	client  *http.Client
	refresh time.Duration
	minGap  time.Duration

	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time // last successful fetch
	lastTry time.Time // last fetch attempt, for rate limiting
}

// NewCache fetches url now (an issuer that cannot be reached at start-up
// is an error worth seeing) and again every refresh (0: 5 minutes), or
// when a token names an unknown key id, at most once per minGap (0: 10s).
func NewCache(ctx context.Context, url string, hc *http.Client, refresh, minGap time.Duration) (*Cache, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	if minGap <= 0 {
		minGap = 10 * time.Second
	}
	c := &Cache{url: url, client: hc, refresh: refresh, minGap: minGap}
	if err := c.fetch(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Key returns the key for kid; an unknown kid, or a stale set, makes it
// fetch again, at most once per minGap.
func (c *Cache) Key(ctx context.Context, kid string) (any, error) {
	c.mu.Lock()
	k, ok := c.keys[kid]
	stale := time.Since(c.fetched) >= c.refresh
	canFetch := time.Since(c.lastTry) >= c.minGap
	c.mu.Unlock()
	if (ok && !stale) || !canFetch {
		if !ok {
			return nil, fmt.Errorf("jwks: unknown key id %q", kid)
		}
		return k, nil
	}
	if err := c.fetch(ctx); err != nil && !ok {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok = c.keys[kid]; !ok {
		return nil, fmt.Errorf("jwks: unknown key id %q", kid)
	}
	return k, nil
}

func (c *Cache) fetch(ctx context.Context) error {
	c.mu.Lock()
	c.lastTry = time.Now()
	c.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("jwks: fetch %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks: fetch %s: %s", c.url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("jwks: read %s: %w", c.url, err)
	}
	keys, err := Parse(b)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.keys, c.fetched = keys, time.Now()
	c.mu.Unlock()
	return nil
}
