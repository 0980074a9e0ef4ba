package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// ClientCredentialsConfig configures the OAuth2 client-credentials grant
// (RFC 6749 section 4.4).
type ClientCredentialsConfig struct {
	// TokenURL is the issuer's token endpoint.
	TokenURL string
	// ClientID and ClientSecret authenticate meshd to the issuer.
	// ClientSecretFile, when set, is read at every fetch instead, so a
	// rotated Kubernetes secret applies without a restart.
	ClientID         string
	ClientSecret     string
	ClientSecretFile string
	// Scopes are sent space-separated as the scope parameter.
	Scopes []string
	// Audience, when set, is sent as the audience parameter (Auth0,
	// Keycloak and others use it to pick the API the token is for).
	Audience string
	// AuthInBody sends client_id and client_secret as form fields instead
	// of HTTP Basic authentication, for issuers that require it.
	AuthInBody bool
	// RefreshBefore is how long before expiry a background refresh starts
	// (0: 30s; never more than half the token's lifetime).
	RefreshBefore time.Duration
	// HTTPClient talks to the issuer (nil: a client with a 10s timeout).
	HTTPClient *http.Client
	// Logger reports refresh failures (nil: slog.Default()).
	Logger *slog.Logger
}

// ClientCredentials is a Source backed by the client-credentials grant.
//
// The token is cached. From RefreshBefore ahead of its expiry a background
// goroutine fetches the next one, retrying with backoff; callers keep
// getting the cached token meanwhile, so a refresh never fails a request.
// Only when no unexpired token is cached does Token wait for a fetch, and
// concurrent callers share that one fetch. When the issuer is down the
// cached token is served until it expires; after that Token fails with an
// error wrapping ErrNoToken that says when it expired and why the issuer
// could not be reached.
type ClientCredentials struct {
	cfg ClientCredentialsConfig
	log *slog.Logger

	mu       sync.Mutex
	cur      *cachedToken
	inflight *fetchCall
	lastErr  error
	nextTry  time.Time
	backoff  time.Duration

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

type cachedToken struct {
	tok       string
	expiresAt time.Time // the issuer's expiry
	usableTo  time.Time // expiresAt minus a margin for clock skew and transit
	refreshAt time.Time
}

type fetchCall struct {
	done chan struct{}
	tok  *cachedToken
	err  error
}

const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 30 * time.Second
	// defaultLifetime applies when the issuer sends neither expires_in nor
	// a JWT with exp.
	defaultLifetime = 5 * time.Minute
)

// NewClientCredentials checks cfg and starts the background refresher.
// It does not fetch: the first Token call does, so meshd starts even when
// the issuer is not up yet. Close stops the refresher.
func NewClientCredentials(cfg ClientCredentialsConfig) (*ClientCredentials, error) {
	u, err := url.Parse(cfg.TokenURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("tokens: token_url %q is not an http(s) URL", cfg.TokenURL)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("tokens: client_id is required")
	}
	if cfg.ClientSecret == "" && cfg.ClientSecretFile == "" {
		return nil, errors.New("tokens: client_secret or client_secret_file is required")
	}
	if cfg.ClientSecret != "" && cfg.ClientSecretFile != "" {
		return nil, errors.New("tokens: set client_secret or client_secret_file, not both")
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &ClientCredentials{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.refresher()
	return c, nil
}

// Close stops the background refresher and any fetch in flight. Token
// answers from the cache afterwards, and fails once the token expires.
func (c *ClientCredentials) Close() {
	c.cancel()
	<-c.done
}

// Token returns a token that is valid now.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	now := time.Now()
	c.mu.Lock()
	cur, lastErr, nextTry := c.cur, c.lastErr, c.nextTry
	c.mu.Unlock()
	if cur != nil && now.Before(cur.usableTo) {
		if !now.Before(cur.refreshAt) {
			select {
			case c.kick <- struct{}{}:
			default:
			}
		}
		return cur.tok, nil
	}
	var tok *cachedToken
	err := lastErr
	if lastErr == nil || !now.Before(nextTry) {
		// Fetch, unless the last attempt failed moments ago: then fail
		// fast instead of making every request wait on a dead issuer.
		tok, err = c.fetch(ctx)
	}
	if err != nil {
		if cur != nil {
			return "", fmt.Errorf("tokens: %w: the token from %s expired at %s and no new one could be fetched: %w",
				ErrNoToken, c.cfg.TokenURL, cur.expiresAt.UTC().Format(time.RFC3339), err)
		}
		return "", fmt.Errorf("tokens: %w: cannot fetch a token from %s: %w", ErrNoToken, c.cfg.TokenURL, err)
	}
	return tok.tok, nil
}

// fetch gets a new token, sharing one request among concurrent callers.
func (c *ClientCredentials) fetch(ctx context.Context) (*cachedToken, error) {
	c.mu.Lock()
	call := c.inflight
	if call == nil {
		call = &fetchCall{done: make(chan struct{})}
		c.inflight = call
		go func() {
			// Detached from the caller: one caller giving up must not fail
			// the others waiting for the same fetch.
			limit := c.cfg.HTTPClient.Timeout
			if limit <= 0 {
				limit = 30 * time.Second
			}
			fctx, cancel := context.WithTimeout(c.ctx, limit+time.Second)
			defer cancel()
			tok, err := c.request(fctx)
			c.mu.Lock()
			call.tok, call.err = tok, err
			c.inflight = nil
			now := time.Now()
			if err == nil {
				c.cur, c.lastErr, c.backoff, c.nextTry = tok, nil, 0, time.Time{}
			} else {
				c.lastErr = err
				c.backoff = min(max(c.backoff*2, minBackoff), maxBackoff)
				c.nextTry = now.Add(c.backoff)
			}
			c.mu.Unlock()
			close(call.done)
			if err == nil {
				// Re-arm the refresher's timer for the new token.
				select {
				case c.kick <- struct{}{}:
				default:
				}
			}
		}()
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.tok, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refresher fetches the next token from the refresh point on, backing off
// after failures, until Close.
func (c *ClientCredentials) refresher() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		cur, nextTry := c.cur, c.nextTry
		c.mu.Unlock()
		var due time.Time
		if cur != nil {
			due = cur.refreshAt
			if nextTry.After(due) {
				due = nextTry
			}
		}
		now := time.Now()
		if cur != nil && !now.Before(due) {
			if _, err := c.fetch(c.ctx); err != nil && c.ctx.Err() == nil {
				c.log.Warn("tokens: background refresh failed; serving the cached token until it expires",
					"token_url", c.cfg.TokenURL, "expires_at", cur.expiresAt, "error", err)
			}
			continue
		}
		wait := time.Hour
		if cur != nil {
			wait = due.Sub(now)
		}
		timer.Reset(wait)
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

type tokenResponse struct {
	AccessToken string       `json:"access_token"`
	TokenType   string       `json:"token_type"`
	ExpiresIn   *json.Number `json:"expires_in"`
	Error       string       `json:"error"`
	ErrorDesc   string       `json:"error_description"`
}

func (c *ClientCredentials) request(ctx context.Context) (*cachedToken, error) {
	secret := c.cfg.ClientSecret
	if c.cfg.ClientSecretFile != "" {
		b, err := os.ReadFile(c.cfg.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("client secret: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(c.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(c.cfg.Scopes, " "))
	}
	if c.cfg.Audience != "" {
		form.Set("audience", c.cfg.Audience)
	}
	if c.cfg.AuthInBody {
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !c.cfg.AuthInBody {
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(secret))
	}
	start := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("token endpoint: read response: %w", err)
	}
	var tr tokenResponse
	jerr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		if jerr == nil && tr.Error != "" {
			return nil, fmt.Errorf("token endpoint answered %s: %s %s", resp.Status, tr.Error, tr.ErrorDesc)
		}
		return nil, fmt.Errorf("token endpoint answered %s", resp.Status)
	}
	if jerr != nil {
		return nil, fmt.Errorf("token endpoint: response is not JSON: %w", jerr)
	}
	if tr.AccessToken == "" {
		return nil, errors.New("token endpoint: response has no access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, fmt.Errorf("token endpoint: token_type %q is not bearer", tr.TokenType)
	}
	var exp time.Time
	if tr.ExpiresIn != nil {
		secs, err := tr.ExpiresIn.Float64()
		if err != nil || secs <= 0 {
			return nil, fmt.Errorf("token endpoint: bad expires_in %q", tr.ExpiresIn.String())
		}
		// Counted from when the request was sent: the safe side.
		exp = start.Add(time.Duration(secs * float64(time.Second)))
	} else if e, ok := jwtExpiry(tr.AccessToken); ok {
		exp = e
	} else {
		exp = start.Add(defaultLifetime)
	}
	return c.cache(tr.AccessToken, start, exp), nil
}

// cache works out when to refresh and when to stop using a token issued
// at start and expiring at exp.
func (c *ClientCredentials) cache(tok string, start, exp time.Time) *cachedToken {
	life := exp.Sub(start)
	before := min(c.cfg.RefreshBefore, life/2)
	// Stop using a token a little before its end, so it does not expire
	// on its way to the upstream: 5s, or a tenth of very short lifetimes.
	margin := min(5*time.Second, life/10)
	return &cachedToken{tok: tok, expiresAt: exp, usableTo: exp.Add(-margin), refreshAt: exp.Add(-before)}
}
