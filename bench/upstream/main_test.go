package main

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

func TestServerBodies(t *testing.T) {
	ln := fasthttputil.NewInmemoryListener()
	srv := newServer()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	c := &fasthttp.HostClient{Addr: "upstream", Dial: func(string) (net.Conn, error) { return ln.Dial() }}

	tests := []struct {
		path   string
		status int
		size   int
	}{
		{"/small", 200, smallSize},
		{"/large", 200, largeSize},
		{"/nope", 404, len("not found")},
		{"/conns", 200, 1}, // "1": every request above reused one connection
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://upstream" + tc.path)
			if err := c.Do(req, resp); err != nil {
				t.Fatalf("GET %s: %v", tc.path, err)
			}
			if resp.StatusCode() != tc.status || len(resp.Body()) != tc.size {
				t.Fatalf("GET %s = %d with %d bytes, want %d with %d", tc.path, resp.StatusCode(), len(resp.Body()), tc.status, tc.size)
			}
			if tc.path == "/conns" && string(resp.Body()) != "1" {
				t.Fatalf("GET /conns = %q, want \"1\" after keep-alive requests", resp.Body())
			}
			if resp.ConnectionClose() {
				t.Fatalf("GET %s closed the connection; the benchmark needs keep-alive", tc.path)
			}
		})
	}
}
