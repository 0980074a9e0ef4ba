package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Body sizes: the two payloads the benchmark compares, one dominated by
// per-request overhead and one by copying bytes.
const (
	smallSize = 100
	largeSize = 16 << 10
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18900", "loopback address to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, log); err != nil {
		log.Error("upstream failed", "err", err)
		os.Exit(1)
	}
}

// run serves on addr until ctx is done.
func run(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := newServer()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("upstream listening", "addr", ln.Addr().String())
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

// newServer returns the benchmark origin: fixed bodies, no Date header to
// format, and no limit on requests per connection.
func newServer() *fasthttp.Server {
	small := bytes.Repeat([]byte("s"), smallSize)
	large := bytes.Repeat([]byte("L"), largeSize)
	return &fasthttp.Server{
		Name:                  "bench-upstream",
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case "/small":
				ctx.SetContentType("text/plain")
				ctx.SetBody(small)
			case "/large":
				ctx.SetContentType("text/plain")
				ctx.SetBody(large)
			default:
				ctx.Error("not found", fasthttp.StatusNotFound)
			}
		},
	}
}
