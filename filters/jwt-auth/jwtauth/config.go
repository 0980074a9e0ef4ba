package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// config is the filter's JSON configuration (decoded strictly).
type config struct {
	Issuers          []issuerConfig    `json:"issuers"`
	From             []sourceConfig    `json:"from"`
	Rules            []ruleConfig      `json:"rules"`
	ForwardClaims    map[string]string `json:"forward_claims"`
	StripToken       bool              `json:"strip_token"`
	ClockSkewSeconds int               `json:"clock_skew_seconds"`
	CacheSize        int               `json:"cache_size"`
	Realm            string            `json:"realm"`
}

type issuerConfig struct {
	Issuer         string          `json:"issuer"`
	Audiences      []string        `json:"audiences"`
	JWKS           json.RawMessage `json:"jwks"`
	JWKSCluster    string          `json:"jwks_cluster"`
	JWKSPath       string          `json:"jwks_path"`
	JWKSAuthority  string          `json:"jwks_authority"`
	RefreshSeconds int             `json:"refresh_seconds"`
}

type sourceConfig struct {
	Header string `json:"header"`
	Prefix string `json:"prefix"`
	Cookie string `json:"cookie"`
	Query  string `json:"query"`
}

type ruleConfig struct {
	Prefix string `json:"prefix"`
	Mode   string `json:"mode"` // required | optional | bypass
}

const (
	modeRequired = "required"
	modeOptional = "optional"
	modeBypass   = "bypass"
)

func parseConfig(b []byte) (*config, error) {
	c := &config{}
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("jwt-auth config: %w", err)
		}
	}
	if len(c.Issuers) == 0 {
		return nil, errors.New("jwt-auth config: at least one issuer is required")
	}
	for i := range c.Issuers {
		is := &c.Issuers[i]
		if is.Issuer == "" {
			return nil, fmt.Errorf("jwt-auth config: issuers[%d].issuer is empty", i)
		}
		if len(is.JWKS) == 0 && is.JWKSCluster == "" {
			return nil, fmt.Errorf("jwt-auth config: issuer %s needs jwks or jwks_cluster", is.Issuer)
		}
		if is.JWKSCluster != "" && is.JWKSPath == "" {
			return nil, fmt.Errorf("jwt-auth config: issuer %s: jwks_path is required with jwks_cluster", is.Issuer)
		}
		if is.JWKSAuthority == "" {
			is.JWKSAuthority = is.JWKSCluster
		}
		if is.RefreshSeconds <= 0 {
			is.RefreshSeconds = 600
		}
	}
	if len(c.From) == 0 {
		c.From = []sourceConfig{{Header: "authorization", Prefix: "Bearer "}}
	}
	for i, s := range c.From {
		n := 0
		for _, v := range []string{s.Header, s.Cookie, s.Query} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("jwt-auth config: from[%d] needs exactly one of header, cookie, query", i)
		}
		c.From[i].Header = strings.ToLower(s.Header)
	}
	for i, r := range c.Rules {
		switch r.Mode {
		case modeRequired, modeOptional, modeBypass:
		default:
			return nil, fmt.Errorf("jwt-auth config: rules[%d].mode %q: want required, optional or bypass", i, r.Mode)
		}
	}
	if c.ClockSkewSeconds < 0 {
		return nil, errors.New("jwt-auth config: clock_skew_seconds is negative")
	}
	if c.CacheSize == 0 {
		c.CacheSize = 1024
	}
	if c.Realm == "" {
		c.Realm = "wasmesh"
	}
	for claim, hdr := range c.ForwardClaims {
		c.ForwardClaims[claim] = strings.ToLower(hdr)
	}
	return c, nil
}

func (c *config) skew() time.Duration { return time.Duration(c.ClockSkewSeconds) * time.Second }

// mode returns the rule for path: the longest matching prefix wins;
// without a match a token is required.
func (c *config) mode(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	best, mode := -1, modeRequired
	for _, r := range c.Rules {
		if strings.HasPrefix(path, r.Prefix) && len(r.Prefix) > best {
			best, mode = len(r.Prefix), r.Mode
		}
	}
	return mode
}
