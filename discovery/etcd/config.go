package etcd

import (
	"fmt"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

// Config is the backend's options block.
type Config struct {
	// Endpoints are the etcd client URLs (required).
	Endpoints []string `json:"endpoints"`
	// Prefix is the key prefix services live under; default
	// "wasmesh/services". gRPC clients use "etcd:///<prefix>/<service>".
	Prefix string `json:"prefix,omitempty"`
	// Username and Password enable etcd authentication.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// DialTimeout bounds the first connection; default 5s.
	DialTimeout discovery.Duration `json:"dial_timeout,omitempty"`
	// TTL is the lease TTL of a registration whose Check.TTL is zero;
	// default 10s. A dead instance disappears after about this long.
	TTL discovery.Duration `json:"ttl,omitempty"`
	// HealthInterval is how often the connection is probed to flag watches
	// as stale while etcd is unreachable; default 2s.
	HealthInterval discovery.Duration `json:"health_interval,omitempty"`
}

const (
	defaultPrefix         = "wasmesh/services"
	defaultDialTimeout    = 5 * time.Second
	defaultTTL            = 10 * time.Second
	defaultHealthInterval = 2 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = defaultPrefix
	}
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.DialTimeout <= 0 {
		c.DialTimeout = discovery.Duration(defaultDialTimeout)
	}
	if c.TTL <= 0 {
		c.TTL = discovery.Duration(defaultTTL)
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = discovery.Duration(defaultHealthInterval)
	}
	return c
}

func (c Config) validate() error {
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("%w: etcd: endpoints is required", discovery.ErrInvalid)
	}
	if c.TTL.Std() < time.Second {
		return fmt.Errorf("%w: etcd: ttl %v is below etcd's 1s lease granularity", discovery.ErrInvalid, c.TTL.Std())
	}
	return nil
}
