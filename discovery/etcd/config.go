package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
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
	// TLS enables TLS to etcd (endpoints then use https://).
	TLS *TLSConfig `json:"tls,omitempty"`
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

// TLSConfig names the PEM files for TLS to etcd.
type TLSConfig struct {
	// CAFile verifies the server; empty: the system roots.
	CAFile string `json:"ca_file,omitempty"`
	// CertFile and KeyFile are the client certificate, for servers started
	// with --client-cert-auth.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `json:"server_name,omitempty"`
}

func (c *TLSConfig) build() (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: etcd: tls ca_file: %w", discovery.ErrInvalid, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: etcd: tls ca_file %s holds no certificate", discovery.ErrInvalid, c.CAFile)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("%w: etcd: tls cert_file and key_file go together", discovery.ErrInvalid)
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: etcd: tls client certificate: %w", discovery.ErrInvalid, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
