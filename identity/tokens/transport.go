package tokens

import (
	"fmt"
	"net/http"
)

// Transport is an http.RoundTripper that puts a token from Source on
// every request as "Authorization: Bearer TOKEN" (or in Header, when
// set), for in-process clients (client/) and tests. A request that
// already carries the header is sent unchanged.
type Transport struct {
	Source Source
	// Header is the header to set (empty: Authorization, with "Bearer ").
	Header string
	// Base sends the request (nil: http.DefaultTransport).
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	name, prefix := t.Header, ""
	if name == "" {
		name, prefix = "Authorization", "Bearer "
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.Header.Get(name) != "" {
		return base.RoundTrip(req)
	}
	tok, err := t.Source.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("tokens: %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	r2 := req.Clone(req.Context())
	r2.Header.Set(name, prefix+tok)
	return base.RoundTrip(r2)
}
