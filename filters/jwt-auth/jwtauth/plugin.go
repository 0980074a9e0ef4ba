package jwtauth

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

// New makes the filter's root context: the factory for sdk.SetNewPlugin.
func New(uint32) sdk.Plugin { return &plugin{} }

type issuerState struct {
	cfg       *issuerConfig
	keys      []key
	fetchedAt time.Time
	fetching  bool
}

type cached struct {
	t *token
}

type plugin struct {
	cfg                            *config
	issuers                        map[string]*issuerState
	cache                          map[string]cached
	allowed, denied, hits, fetches sdk.Metric
}

func (p *plugin) OnConfigure(b []byte) error {
	cfg, err := parseConfig(b)
	if err != nil {
		return err
	}
	p.cfg = cfg
	p.issuers = make(map[string]*issuerState)
	p.cache = make(map[string]cached)
	p.allowed = sdk.DefineCounter("jwt_auth.allowed")
	p.denied = sdk.DefineCounter("jwt_auth.denied")
	p.hits = sdk.DefineCounter("jwt_auth.cache_hits")
	p.fetches = sdk.DefineCounter("jwt_auth.jwks_fetches")
	minRefresh := 0
	for i := range cfg.Issuers {
		is := &issuerState{cfg: &cfg.Issuers[i]}
		if len(is.cfg.JWKS) > 0 {
			keys, err := parseJWKS(is.cfg.JWKS)
			if err != nil {
				return err
			}
			is.keys = keys
		}
		p.issuers[is.cfg.Issuer] = is
		if is.cfg.JWKSCluster != "" {
			p.fetch(is, nil)
			if minRefresh == 0 || is.cfg.RefreshSeconds < minRefresh {
				minRefresh = is.cfg.RefreshSeconds
			}
		}
	}
	if minRefresh > 0 {
		return sdk.SetTickPeriod(time.Duration(minRefresh) * time.Second)
	}
	return nil
}

// OnTick refreshes every remote JWKS whose refresh period passed.
func (p *plugin) OnTick() {
	now := sdk.Now()
	for _, is := range p.issuers {
		if is.cfg.JWKSCluster != "" && now.Sub(is.fetchedAt) >= time.Duration(is.cfg.RefreshSeconds)*time.Second {
			p.fetch(is, nil)
		}
	}
}

// fetch gets an issuer's JWKS; done (if any) runs after, in the context of
// the request that asked.
func (p *plugin) fetch(is *issuerState, done func(ok bool)) bool {
	c := is.cfg
	hdrs := [][2]string{{":method", "GET"}, {":path", c.JWKSPath}, {":authority", c.JWKSAuthority}, {"accept", "application/json"}}
	err := sdk.HTTPCall(c.JWKSCluster, hdrs, nil, 5*time.Second, func(r sdk.HTTPCallResponse) {
		is.fetching = false
		ok := false
		if r.Status == 200 {
			if keys, err := parseJWKS(r.Body); err == nil {
				is.keys, ok = keys, true
				is.fetchedAt = sdk.Now()
			} else {
				sdk.Warnf("jwt-auth: JWKS of %s: %v", c.Issuer, err)
			}
		} else {
			sdk.Warnf("jwt-auth: JWKS of %s: status %d", c.Issuer, r.Status)
		}
		if done != nil {
			done(ok)
		}
	})
	if err != nil {
		sdk.Warnf("jwt-auth: JWKS of %s: %v", c.Issuer, err)
		return false
	}
	is.fetching = true
	p.fetches.Increment(1)
	return true
}

func (p *plugin) NewHTTPFilter(uint32) sdk.HTTPFilter { return &filter{p: p} }

type filter struct {
	sdk.DefaultHTTPFilter
	p *plugin
}

// source is where the token came from, for stripping it.
type source struct {
	cfg   sourceConfig
	value string
}

func (f *filter) extract() (string, *source) {
	for _, s := range f.p.cfg.From {
		switch {
		case s.Header != "":
			v, ok := sdk.RequestHeader(s.Header)
			if !ok {
				continue
			}
			if s.Prefix != "" {
				if len(v) < len(s.Prefix) || !strings.EqualFold(v[:len(s.Prefix)], s.Prefix) {
					continue
				}
				v = v[len(s.Prefix):]
			}
			return strings.TrimSpace(v), &source{cfg: s, value: v}
		case s.Cookie != "":
			c, ok := sdk.RequestHeader("cookie")
			if !ok {
				continue
			}
			for _, part := range strings.Split(c, ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
				if name == s.Cookie {
					return val, &source{cfg: s, value: val}
				}
			}
		case s.Query != "":
			path, _ := sdk.RequestHeader(":path")
			_, q, ok := strings.Cut(path, "?")
			if !ok {
				continue
			}
			vals, err := url.ParseQuery(q)
			if err != nil {
				continue
			}
			if v := vals.Get(s.Query); v != "" {
				return v, &source{cfg: s, value: v}
			}
		}
	}
	return "", nil
}

func (f *filter) OnRequestHeaders(int, bool) sdk.Action {
	p := f.p
	path, _ := sdk.RequestHeader(":path")
	mode := p.cfg.mode(path)
	if mode == modeBypass {
		return sdk.Continue
	}
	raw, src := f.extract()
	if raw == "" {
		if mode == modeOptional {
			return sdk.Continue
		}
		return f.deny(errMissingToken)
	}
	now := sdk.Now()
	if c, ok := p.cache[raw]; ok {
		is := p.issuers[c.t.iss]
		if err := c.t.checkClaims(is.cfg.Audiences, now, p.cfg.skew()); err != nil {
			delete(p.cache, raw)
			return f.deny(err)
		}
		p.hits.Increment(1)
		return f.allow(c.t, src)
	}
	t, err := parseToken(raw)
	if err != nil {
		return f.deny(err)
	}
	is, ok := p.issuers[t.iss]
	if !ok {
		return f.deny(errIssuer)
	}
	err = t.verify(is.keys, is.cfg.Audiences, now, p.cfg.skew())
	if err == errNoKey && is.cfg.JWKSCluster != "" && now.Sub(is.fetchedAt) > time.Second {
		// An unknown kid: the issuer may have rotated its keys.
		started := p.fetch(is, func(bool) {
			if err := t.verify(is.keys, is.cfg.Audiences, sdk.Now(), p.cfg.skew()); err != nil {
				f.deny(err)
				return
			}
			f.allow(t, src)
			sdk.ResumeRequest()
		})
		if started {
			return sdk.Pause
		}
	}
	if err != nil {
		return f.deny(err)
	}
	return f.allow(t, src)
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (f *filter) allow(t *token, src *source) sdk.Action {
	p := f.p
	if _, ok := p.cache[t.raw]; !ok {
		if len(p.cache) >= p.cfg.CacheSize {
			for k := range p.cache { // evict an arbitrary entry
				delete(p.cache, k)
				break
			}
		}
		p.cache[t.raw] = cached{t: t}
	}
	// The verified claims, for meshd's authorization policies.
	if b, err := json.Marshal(t.claims); err == nil {
		_ = sdk.SetProperty(b, "wasmesh", "jwt_claims")
	}
	for claim, hdr := range p.cfg.ForwardClaims {
		if v, ok := t.claims[claim]; ok {
			sdk.SetRequestHeader(hdr, claimString(v))
		} else {
			sdk.RemoveRequestHeader(hdr) // never trust a client-sent claim header
		}
	}
	if p.cfg.StripToken && src != nil {
		strip(src)
	}
	p.allowed.Increment(1)
	return sdk.Continue
}

func strip(src *source) {
	switch {
	case src.cfg.Header != "":
		sdk.RemoveRequestHeader(src.cfg.Header)
	case src.cfg.Cookie != "":
		c, _ := sdk.RequestHeader("cookie")
		var kept []string
		for _, part := range strings.Split(c, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name != src.cfg.Cookie && strings.TrimSpace(part) != "" {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
		if len(kept) == 0 {
			sdk.RemoveRequestHeader("cookie")
		} else {
			sdk.SetRequestHeader("cookie", strings.Join(kept, "; "))
		}
	case src.cfg.Query != "":
		path, _ := sdk.RequestHeader(":path")
		base, q, _ := strings.Cut(path, "?")
		vals, _ := url.ParseQuery(q)
		vals.Del(src.cfg.Query)
		if e := vals.Encode(); e != "" {
			base += "?" + e
		}
		sdk.SetRequestHeader(":path", base)
	}
}

func (f *filter) deny(err error) sdk.Action {
	f.p.denied.Increment(1)
	realm := f.p.cfg.Realm
	challenge := `Bearer realm="` + realm + `"`
	if err != errMissingToken {
		challenge += `, error="invalid_token", error_description="` + err.Error() + `"`
	}
	sdk.SendLocalResponse(401, [][2]string{
		{"www-authenticate", challenge},
		{"content-type", "text/plain; charset=utf-8"},
	}, []byte("401 Unauthorized: "+err.Error()+"\n"))
	return sdk.Pause
}
