package main

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestProxyForwards(t *testing.T) {
	up := listen(t, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(201)
		ctx.SetBodyString("from upstream " + string(ctx.Path()))
	}})
	px := listen(t, newProxy(up))

	tests := []struct {
		name, target string
		status       int
		body         string
	}{
		{"forwards path and status", px, 201, "from upstream /x"},
		{"upstream down is 502", listen(t, newProxy(closedAddr(t))), 502, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := fasthttp.Get(nil, "http://"+tc.target+"/x")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if status != tc.status || (tc.body != "" && string(body) != tc.body) {
				t.Fatalf("GET = %d %q, want %d %q", status, body, tc.status, tc.body)
			}
		})
	}
}

func listen(t *testing.T, s *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
