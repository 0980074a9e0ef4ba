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
	"strconv"
	"sync/atomic"
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
// format, and no limit on requests per connection. GET /conns answers how
// many connections it has accepted, so the benchmark can show that a proxy
// reuses its upstream connections instead of opening one per request.
func newServer() *fasthttp.Server {
	small := bytes.Repeat([]byte("s"), smallSize)
	large := bytes.Repeat([]byte("L"), largeSize)
	var accepted atomic.Int64
	return &fasthttp.Server{
		Name:                  "bench-upstream",
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateNew {
				accepted.Add(1)
			}
		},
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case "/small":
				ctx.SetContentType("text/plain")
				ctx.SetBody(small)
			case "/large":
				ctx.SetContentType("text/plain")
				ctx.SetBody(large)
			case "/conns":
				ctx.SetContentType("text/plain")
				ctx.SetBody(strconv.AppendInt(nil, accepted.Load(), 10))
			default:
				ctx.Error("not found", fasthttp.StatusNotFound)
			}
		},
	}
}
