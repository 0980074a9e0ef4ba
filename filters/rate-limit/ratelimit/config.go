package ratelimit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

type config struct {
	// Key lists what identifies a client: "header:NAME", "path",
	// "source_ip", "jwt_subject", "route", "method". Parts are joined.
	Key []string `json:"key"`
	// JWTSubjectHeader is the header jwt-auth forwards the subject in.
	JWTSubjectHeader string        `json:"jwt_subject_header"`
	Local            *localConfig  `json:"local"`
	Global           *globalConfig `json:"global"`
	// Shadow counts what would be refused but lets everything through.
	Shadow bool `json:"shadow"`
	// MaxKeys is the size of the shared bucket table.
	MaxKeys int `json:"max_keys"`
}

type localConfig struct {
	Requests   int64 `json:"requests"`    // tokens added per period
	PerSeconds int64 `json:"per_seconds"` // the period
	Burst      int64 `json:"burst"`       // bucket size; default Requests
}

type globalConfig struct {
	Requests      int64  `json:"requests"`
	WindowSeconds int64  `json:"window_seconds"`
	Prefix        string `json:"prefix"`
}

func parseConfig(b []byte) (*config, error) {
	c := &config{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("rate-limit config: %w", err)
	}
	if c.Local == nil && c.Global == nil {
		return nil, errors.New("rate-limit config: set local, global or both")
	}
	if len(c.Key) == 0 {
		c.Key = []string{"source_ip"}
	}
	for _, k := range c.Key {
		switch {
		case k == "path", k == "source_ip", k == "jwt_subject", k == "route", k == "method":
		case strings.HasPrefix(k, "header:") && len(k) > len("header:"):
		default:
			return nil, fmt.Errorf("rate-limit config: key part %q: want header:NAME, path, source_ip, jwt_subject, route or method", k)
		}
	}
	if c.JWTSubjectHeader == "" {
		c.JWTSubjectHeader = "x-jwt-sub"
	}
	if l := c.Local; l != nil {
		if l.Requests <= 0 || l.PerSeconds <= 0 {
			return nil, errors.New("rate-limit config: local.requests and local.per_seconds must be positive")
		}
		if l.Burst <= 0 {
			l.Burst = l.Requests
		}
	}
	if g := c.Global; g != nil {
		if g.Requests <= 0 || g.WindowSeconds <= 0 {
			return nil, errors.New("rate-limit config: global.requests and global.window_seconds must be positive")
		}
		if g.Prefix == "" {
			g.Prefix = "wasmesh:rl:"
		}
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 1024
	}
	return c, nil
}
