package tokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Source yields the bearer token to put on an outgoing request. Token is
// called on the request path: implementations answer from a cache and are
// safe for concurrent use.
type Source interface {
	Token(ctx context.Context) (string, error)
}

// ErrNoToken is wrapped by every error that means "no usable token now",
// so the data plane can answer 503 with the error's text as the reason.
var ErrNoToken = errors.New("no token available")

type audienceKey struct{}

// WithAudience returns a context asking audience-aware sources
// (SelfSigned) for a token addressed to audience, typically the target
// cluster's service name or SPIFFE ID.
func WithAudience(ctx context.Context, audience string) context.Context {
	return context.WithValue(ctx, audienceKey{}, audience)
}

// AudienceFrom returns the audience WithAudience stored, or "".
func AudienceFrom(ctx context.Context) string {
	s, _ := ctx.Value(audienceKey{}).(string)
	return s
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the token
// is ours to send, not to trust), so caches know when it stops working.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp *json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp == nil {
		return time.Time{}, false
	}
	f, err := c.Exp.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
