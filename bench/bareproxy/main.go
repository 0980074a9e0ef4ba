package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18906", "loopback address to listen on")
	up := flag.String("upstream", "127.0.0.1:18900", "upstream address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *up, log); err != nil {
		log.Error("bareproxy failed", "err", err)
		os.Exit(1)
	}
}

// run proxies addr to upstream until ctx is done.
func run(ctx context.Context, addr, upstream string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := newProxy(upstream)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("bareproxy listening", "addr", ln.Addr().String(), "upstream", upstream)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	if err := srv.Shutdown(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newProxy returns a server that forwards every request to upstream over
// kept-alive connections, with buffer sizes like meshd's.
func newProxy(upstream string) *fasthttp.Server {
	c := &fasthttp.HostClient{
		Addr:                     upstream,
		MaxConns:                 1024,
		MaxIdleConnDuration:      60 * time.Second,
		ReadBufferSize:           16 << 10,
		WriteBufferSize:          16 << 10,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
	}
	return &fasthttp.Server{
		Name:                  "bareproxy",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		NoDefaultDate:         true,
		WriteBufferSize:       16 << 10,
		Handler: func(ctx *fasthttp.RequestCtx) {
			if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Response.Reset()
				ctx.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
			}
		},
	}
}
