package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/identity/audit"
	"github.com/wasmesh/wasmesh/identity/tokens"
)

// tokenHost keeps each cluster's egress token source across reloads while
// its settings stay the same (a client-credentials source keeps its cached
// token and its background refresh).
type tokenHost struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

type tokenEntry struct {
	src  tokens.Source
	self *tokens.SelfSigned
}

func (th *tokenHost) build(cfg *conf.Config) (map[string]*tokenEntry, error) {
	th.mu.Lock()
	defer th.mu.Unlock()
	next := map[string]*tokenEntry{}
	for _, cl := range cfg.Clusters {
		t := cl.Token
		if t == nil {
			continue
		}
		key := cl.Name + jsonKey(t)
		if e, ok := th.entries[key]; ok {
			next[key] = e
			continue
		}
		e := &tokenEntry{}
		var err error
		switch {
		case t.File != "":
			e.src, err = tokens.NewFile(t.File)
		case t.ClientCredentials != nil:
			c := t.ClientCredentials
			e.src, err = tokens.NewClientCredentials(tokens.ClientCredentialsConfig{
				TokenURL: c.TokenURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret, ClientSecretFile: c.ClientSecretFile,
				Scopes: c.Scopes, Audience: c.Audience,
			})
		case t.SelfSigned != nil:
			c := t.SelfSigned
			sc := tokens.SelfSignedConfig{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Lifetime: c.Lifetime.D()}
			if c.KeyFile != "" {
				pem, rerr := os.ReadFile(c.KeyFile)
				if rerr != nil {
					return nil, fmt.Errorf("cluster %s token: %w", cl.Name, rerr)
				}
				if sc.Key, err = tokens.ParseSigningKeyPEM(pem); err != nil {
					return nil, fmt.Errorf("cluster %s token: %w", cl.Name, err)
				}
			}
			e.self, err = tokens.NewSelfSigned(sc)
			e.src = e.self
		}
		if err != nil {
			return nil, fmt.Errorf("cluster %s token: %w", cl.Name, err)
		}
		next[key] = e
	}
	return next, nil
}

func (th *tokenHost) commit(next map[string]*tokenEntry) {
	th.mu.Lock()
	old := th.entries
	th.entries = next
	th.mu.Unlock()
	for k, e := range old {
		if _, ok := next[k]; !ok {
			closeSource(e.src)
		}
	}
}

func (th *tokenHost) discard(next map[string]*tokenEntry) {
	th.mu.Lock()
	cur := th.entries
	th.mu.Unlock()
	for k, e := range next {
		if _, ok := cur[k]; !ok {
			closeSource(e.src)
		}
	}
}

func closeSource(s tokens.Source) {
	if c, ok := s.(interface{ Close() }); ok {
		c.Close()
	}
}

func (th *tokenHost) close() { th.commit(nil) }

// jwks is the key set of every self-signed source in force.
func (th *tokenHost) jwks() []byte {
	th.mu.Lock()
	defer th.mu.Unlock()
	keys := []json.RawMessage{}
	for _, e := range th.entries {
		if e.self == nil {
			continue
		}
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(e.self.JWKS(), &set) == nil {
			keys = append(keys, set.Keys...)
		}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// sourceFor returns the token source of cluster in next, if it has one.
func sourceFor(next map[string]*tokenEntry, cl conf.Cluster) tokens.Source {
	if cl.Token == nil {
		return nil
	}
	if e, ok := next[cl.Name+jsonKey(cl.Token)]; ok {
		return e.src
	}
	return nil
}

// egressToken gets the token for a request to cluster; the error says why
// there is none (the issuer is down and the cached token expired, say).
func egressToken(src tokens.Source, cluster string) (string, error) {
	ctx, cancel := context.WithTimeout(tokens.WithAudience(context.Background(), cluster), 5e9)
	defer cancel()
	return src.Token(ctx)
}

func (s *Server) tokenDenied(ev audit.Event, err error) {
	ev.Kind, ev.Reason, ev.Detail, ev.Status = audit.KindAuthentication, audit.ReasonTokenUnavailable, err.Error(), http.StatusServiceUnavailable
	if a := s.auditor(); a != nil {
		a.Record(context.Background(), ev)
	}
}

func (s *Server) jwksFast(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBody(s.tokens.jwks())
}
