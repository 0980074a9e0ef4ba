package consul

import (
	"fmt"
	"os"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

// Config is the backend's options block.
type Config struct {
	// Address of the local agent (host:port); default $CONSUL_HTTP_ADDR,
	// else 127.0.0.1:8500.
	Address string `json:"address,omitempty"`
	// Scheme is "http" (default, "https" when tls is set) or "https".
	Scheme string `json:"scheme,omitempty"`
	// TLS configures HTTPS to the agent.
	TLS *TLSConfig `json:"tls,omitempty"`
	// Token is the ACL token sent with every request; default
	// $CONSUL_HTTP_TOKEN.
	Token string `json:"token,omitempty"`
	// Datacenter to query; default the agent's own.
	Datacenter string `json:"datacenter,omitempty"`
	// TTL of the TTL check of an instance without HTTP check (unless its
	// Check.TTL says otherwise); default 10s. The heartbeat runs every
	// TTL/3.
	TTL discovery.Duration `json:"ttl,omitempty"`
	// DeregisterCriticalAfter removes an instance critical for that long
	// (Consul enforces at least 1m); default 1m.
	DeregisterCriticalAfter discovery.Duration `json:"deregister_critical_after,omitempty"`
	// WaitTime is the blocking query's wait; default 1m.
	WaitTime discovery.Duration `json:"wait_time,omitempty"`
	// MinQueryInterval is the least time between two blocking queries of
	// one watch (the rate limit); default 250ms.
	MinQueryInterval discovery.Duration `json:"min_query_interval,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.Address == "" {
		c.Address = os.Getenv("CONSUL_HTTP_ADDR")
	}
	if c.Address == "" {
		c.Address = "127.0.0.1:8500"
	}
	if c.Token == "" {
		c.Token = os.Getenv("CONSUL_HTTP_TOKEN")
	}
	if c.Scheme == "" {
		c.Scheme = "http"
		if c.TLS != nil {
			c.Scheme = "https"
		}
	}
	if c.TTL <= 0 {
		c.TTL = discovery.Duration(10 * time.Second)
	}
	if c.DeregisterCriticalAfter <= 0 {
		c.DeregisterCriticalAfter = discovery.Duration(time.Minute)
	}
	if c.WaitTime <= 0 {
		c.WaitTime = discovery.Duration(time.Minute)
	}
	if c.MinQueryInterval <= 0 {
		c.MinQueryInterval = discovery.Duration(250 * time.Millisecond)
	}
	return c
}

func (c Config) validate() error {
	if c.Scheme != "http" && c.Scheme != "https" {
		return fmt.Errorf("%w: consul: scheme %q is not http or https", discovery.ErrInvalid, c.Scheme)
	}
	if c.TTL.Std() < time.Second {
		return fmt.Errorf("%w: consul: ttl %v is below 1s", discovery.ErrInvalid, c.TTL.Std())
	}
	return nil
}

// TLSConfig names the PEM files for HTTPS to the agent.
type TLSConfig struct {
	// CAFile verifies the agent; empty: the system roots.
	CAFile string `json:"ca_file,omitempty"`
	// CertFile and KeyFile are a client certificate (verify_incoming).
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// ServerName overrides the name checked in the agent's certificate.
	ServerName string `json:"server_name,omitempty"`
}
