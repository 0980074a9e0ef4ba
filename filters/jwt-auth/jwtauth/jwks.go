package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// jwk is one key of a JWKS.
type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
}

// key is a parsed verification key.
type key struct {
	kid string
	alg string // optional restriction from the JWKS
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
	hs  []byte
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// parseJWKS parses a JWKS document; keys it cannot use are skipped, and an
// error is returned only if the document itself is malformed.
func parseJWKS(b []byte) ([]key, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var out []key
	for _, j := range doc.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		k, err := parseJWK(j)
		if err != nil {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

func parseJWK(j jwk) (key, error) {
	k := key{kid: j.Kid, alg: j.Alg}
	switch j.Kty {
	case "RSA":
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return k, errors.New("bad RSA key")
		}
		k.rsa = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return k, errors.New("unsupported curve")
		}
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		if err1 != nil || err2 != nil {
			return k, errors.New("bad EC key")
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return k, errors.New("bad EC key size")
		}
		raw := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return k, err
		}
		k.ec = pub
	case "OKP":
		x, err := b64(j.X)
		if err != nil || j.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return k, errors.New("bad OKP key")
		}
		k.ed = ed25519.PublicKey(x)
	case "oct":
		s, err := b64(j.K)
		if err != nil || len(s) < 16 {
			return k, errors.New("bad oct key")
		}
		k.hs = s
	default:
		return k, errors.New("unsupported kty")
	}
	return k, nil
}
