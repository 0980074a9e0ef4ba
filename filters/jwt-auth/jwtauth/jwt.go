package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"hash"
	"math/big"
	"strings"
	"time"
)

// Refusal reasons, also the error_description of WWW-Authenticate.
var (
	errMalformed    = errors.New("malformed token")
	errAlg          = errors.New("unsupported or forbidden alg")
	errSignature    = errors.New("invalid signature")
	errExpired      = errors.New("token expired")
	errNotYetValid  = errors.New("token not yet valid")
	errIssuer       = errors.New("unknown issuer")
	errAudience     = errors.New("audience not allowed")
	errNoKey        = errors.New("no key for token")
	errMissingToken = errors.New("missing token")
)

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// token is a parsed (not yet verified) JWT.
type token struct {
	raw    string
	header header
	claims map[string]any
	signed []byte // header.payload
	sig    []byte
	iss    string
	exp    *float64
	nbf    *float64
	aud    []string
}

// parseToken splits and decodes a compact JWS; any shape it does not
// recognise is errMalformed.
func parseToken(raw string) (*token, error) {
	if len(raw) > 16<<10 || strings.Count(raw, ".") != 2 {
		return nil, errMalformed
	}
	i := strings.IndexByte(raw, '.')
	j := strings.LastIndexByte(raw, '.')
	hb, err1 := b64(raw[:i])
	pb, err2 := b64(raw[i+1 : j])
	sig, err3 := b64(raw[j+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, errMalformed
	}
	t := &token{raw: raw, signed: []byte(raw[:j]), sig: sig}
	if err := json.Unmarshal(hb, &t.header); err != nil {
		return nil, errMalformed
	}
	if err := json.Unmarshal(pb, &t.claims); err != nil || t.claims == nil {
		return nil, errMalformed
	}
	if v, ok := t.claims["iss"]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, errMalformed
		}
		t.iss = s
	}
	num := func(name string) (*float64, error) {
		v, ok := t.claims[name]
		if !ok {
			return nil, nil
		}
		f, ok := v.(float64)
		if !ok {
			return nil, errMalformed
		}
		return &f, nil
	}
	var err error
	if t.exp, err = num("exp"); err != nil {
		return nil, err
	}
	if t.nbf, err = num("nbf"); err != nil {
		return nil, err
	}
	switch a := t.claims["aud"].(type) {
	case nil:
	case string:
		t.aud = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, errMalformed
			}
			t.aud = append(t.aud, s)
		}
	default:
		return nil, errMalformed
	}
	return t, nil
}

// algFamily says which key type an alg needs; "" for a forbidden alg.
func algFamily(alg string) string {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return "rsa"
	case "ES256", "ES384":
		return "ec"
	case "EdDSA":
		return "ed"
	case "HS256", "HS384", "HS512":
		return "hs"
	}
	return "" // none, and anything else
}

func hashFor(alg string) (crypto.Hash, func() hash.Hash) {
	switch alg[2:] {
	case "384":
		return crypto.SHA384, sha512.New384
	case "512":
		return crypto.SHA512, sha512.New
	}
	return crypto.SHA256, sha256.New
}

// verifyWith checks the signature with one key; a key of the wrong type
// never verifies (an RSA public key is never an HMAC secret).
func (t *token) verifyWith(k *key) bool {
	alg := t.header.Alg
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch algFamily(alg) {
	case "rsa":
		if k.rsa == nil {
			return false
		}
		h, newH := hashFor(alg)
		d := newH()
		d.Write(t.signed)
		sum := d.Sum(nil)
		if alg[0] == 'P' {
			return rsa.VerifyPSS(k.rsa, h, sum, t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		}
		return rsa.VerifyPKCS1v15(k.rsa, h, sum, t.sig) == nil
	case "ec":
		if k.ec == nil {
			return false
		}
		_, newH := hashFor(alg)
		size := 32
		if alg == "ES384" {
			size = 48
		}
		if k.ec.Curve.Params().BitSize != size*8 || len(t.sig) != 2*size {
			return false
		}
		d := newH()
		d.Write(t.signed)
		r := new(big.Int).SetBytes(t.sig[:size])
		s := new(big.Int).SetBytes(t.sig[size:])
		return ecdsa.Verify(k.ec, d.Sum(nil), r, s)
	case "ed":
		return k.ed != nil && ed25519.Verify(k.ed, t.signed, t.sig)
	case "hs":
		if k.hs == nil {
			return false
		}
		_, newH := hashFor(alg)
		m := hmac.New(newH, k.hs)
		m.Write(t.signed)
		return hmac.Equal(m.Sum(nil), t.sig)
	}
	return false
}

// verify checks the signature against keys (matching kid first) and then the
// time and audience claims. errNoKey means no key has the token's kid (a
// JWKS refresh may find it).
func (t *token) verify(keys []key, audiences []string, now time.Time, skew time.Duration) error {
	if algFamily(t.header.Alg) == "" {
		return errAlg
	}
	tried, ok := 0, false
	for i := range keys {
		k := &keys[i]
		if t.header.Kid != "" && k.kid != "" && k.kid != t.header.Kid {
			continue
		}
		tried++
		if t.verifyWith(k) {
			ok = true
			break
		}
	}
	if tried == 0 {
		return errNoKey
	}
	if !ok {
		return errSignature
	}
	return t.checkClaims(audiences, now, skew)
}

func (t *token) checkClaims(audiences []string, now time.Time, skew time.Duration) error {
	sec := float64(now.UnixNano()) / 1e9
	if t.exp != nil && sec > *t.exp+skew.Seconds() {
		return errExpired
	}
	if t.nbf != nil && sec+skew.Seconds() < *t.nbf {
		return errNotYetValid
	}
	if len(audiences) > 0 {
		found := false
		for _, a := range t.aud {
			for _, want := range audiences {
				if a == want {
					found = true
				}
			}
		}
		if !found {
			return errAudience
		}
	}
	return nil
}
