package dataplane

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
)

// benchUpstream is a fasthttp server answering a 100-byte body.
func benchUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 100)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func benchClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: addr, MaxConns: 64}
}

func runClient(b *testing.B, c *fasthttp.HostClient, path string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://bench" + path)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d", err, resp.StatusCode())
				return
			}
		}
	})
}

// BenchmarkProxy is one keep-alive GET through meshd against the same GET
// straight to the upstream, in the same run: the difference is meshd's
// cost per request (client and upstream included in both).
func BenchmarkProxy(b *testing.B) {
	up := benchUpstream(b)
	b.Run("direct", func(b *testing.B) { runClient(b, benchClient(up), "/api/x") })
	src, err := conf.LoadBytes([]string{"b.yaml"}, [][]byte{[]byte(fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {match: {prefix: /api/, headers: {x-canary: "1"}}, cluster: api}
      - {match: {prefix: /api/}, cluster: api, timeout: 2s, retry: {attempts: 3, on: [5xx], per_try_timeout: 500ms}}
clusters:
  - {name: api, endpoints: [{address: %s}]}
`, up))})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Apply(src.Config, "bench"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(b.Context()) })
	b.Run("meshd", func(b *testing.B) { runClient(b, benchClient(s.Addr("ingress")), "/api/x") })
}

// BenchmarkHandle measures the request path inside meshd alone — routing,
// header work, balancing, breaker, metrics — with the upstream call made
// on a pooled keep-alive connection.
func BenchmarkHandle(b *testing.B) {
	up := benchUpstream(b)
	src, err := conf.LoadBytes([]string{"b.yaml"}, [][]byte{[]byte(fmt.Sprintf(`
logging: {access_log: false}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, cluster: api}]
clusters:
  - {name: api, endpoints: [{address: %s}]}
`, up))})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Apply(src.Config, "bench"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(b.Context()) })
	l := s.listeners["ingress"]
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/api/x")
		ctx.Request.Header.SetHost("svc")
		s.handle(l, &ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
		// Read the streamed body, as the server's write would, so the
		// upstream connection goes back to its pool.
		ctx.Response.Body()
	}
}

// BenchmarkHopHeaders compares removing the hop-by-hop headers with one
// scan (what prepare does) against deleting each by name, on a request
// with typical headers and none of them.
func BenchmarkHopHeaders(b *testing.B) {
	var req fasthttp.Request
	req.SetRequestURI("/api/x")
	for _, h := range []string{"Accept", "User-Agent", "Accept-Encoding", "Authorization", "X-Request-Id", "Cookie"} {
		req.Header.Set(h, "value")
	}
	b.Run("delete-each", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, h := range hopHeaders {
				req.Header.Del(h)
			}
			req.Header.Del("X-Forwarded-Client-Cert")
		}
	})
	b.Run("scan-once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			strip := false
			req.Header.VisitAll(func(k, _ []byte) {
				if !strip && stripOnForward[string(k)] {
					strip = true
				}
			})
			if strip {
				b.Fatal("nothing to strip")
			}
		}
	})
}
