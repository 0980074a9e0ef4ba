package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// checker is one endpoint's active health check: an HTTP GET over the
// endpoint's own pool (HTTP/1.1 or HTTP/2), or the gRPC health protocol.
type checker interface {
	check(ctx context.Context, timeout time.Duration) error
	close()
}

func newChecker(c *Cluster, h *Host, hc *conf.HealthCheck) (checker, error) {
	switch {
	case hc.GRPC:
		creds := insecure.NewCredentials()
		if c.TLS != nil {
			creds = credentials.NewTLS(c.TLS.Clone())
		}
		cc, err := grpc.NewClient(h.Addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, fmt.Errorf("grpc health client: %w", err)
		}
		return &grpcChecker{cc: cc, client: healthpb.NewHealthClient(cc), service: hc.Service}, nil
	case c.HTTP2:
		scheme := "http"
		if c.TLS != nil {
			scheme = "https"
		}
		return &httpChecker{rt: c.RT, url: scheme + "://" + h.Addr + hc.Path}, nil
	}
	return &fastChecker{h: h, path: hc.Path}, nil
}

type fastChecker struct {
	h    *Host
	path string
}

func (f *fastChecker) check(_ context.Context, timeout time.Duration) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(f.path)
	if f.h.Client.IsTLS {
		req.URI().SetScheme("https")
	}
	req.Header.SetHost(f.h.Addr)
	req.Header.Set("User-Agent", "meshd-health-check")
	err := f.h.Client.DoTimeout(req, resp, timeout)
	code := resp.StatusCode()
	resp.Reset() // closes a streamed body, returning the connection
	if err != nil {
		return err
	}
	if code < 200 || code > 299 {
		return fmt.Errorf("health check status %d", code)
	}
	return nil
}

func (f *fastChecker) close() {}

type httpChecker struct {
	rt  http.RoundTripper
	url string
}

func (c *httpChecker) check(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "meshd-health-check")
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("health check status %d", resp.StatusCode)
	}
	return nil
}

func (c *httpChecker) close() {}

type grpcChecker struct {
	cc      *grpc.ClientConn
	client  healthpb.HealthClient
	service string
}

func (g *grpcChecker) check(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := g.client.Check(ctx, &healthpb.HealthCheckRequest{Service: g.service})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("grpc health: %s", resp.GetStatus())
	}
	return nil
}

func (g *grpcChecker) close() { g.cc.Close() }
