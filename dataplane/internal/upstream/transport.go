package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane/internal/tlsutil"
	"golang.org/x/net/http2"
)

// IsHTTP2 reports whether the cluster's upstreams speak HTTP/2.
func IsHTTP2(def conf.Cluster) bool { return def.Protocol == "http2" || def.Protocol == "grpc" }

type rtKey struct {
	cluster, protocol string
	tls               string
	connectTimeout    time.Duration
	maxConns          int
}

func dialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, &ConnectError{Err: err}
		}
		return c, nil
	}
}

// newRoundTripper builds the net/http transport meshd uses for HTTP/2
// requests to this cluster, and for any request to an HTTP/2 cluster:
// pooled per endpoint address, dial errors marked as connect failures.
func newRoundTripper(def conf.Cluster, maxConns int) (http.RoundTripper, *tls.Config, error) {
	dial := dialer(def.ConnectTimeout.D())
	var tlsCfg *tls.Config
	if def.TLS != nil {
		alpn := []string{"http/1.1"}
		if IsHTTP2(def) {
			alpn = []string{"h2"}
		}
		var err error
		if tlsCfg, err = tlsutil.ClientConfig(def.TLS, alpn); err != nil {
			return nil, nil, fmt.Errorf("cluster %s: %w", def.Name, err)
		}
	}
	if IsHTTP2(def) {
		t := &http2.Transport{
			AllowHTTP:          tlsCfg == nil,
			ReadIdleTimeout:    30 * time.Second,
			PingTimeout:        5 * time.Second,
			DisableCompression: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil || tlsCfg == nil {
					return c, err
				}
				tc := tls.Client(c, tlsCfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					c.Close()
					return nil, &ConnectError{Err: err}
				}
				return tc, nil
			},
		}
		return t, tlsCfg, nil
	}
	t := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     tlsCfg,
		MaxConnsPerHost:     maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return t, tlsCfg, nil
}
