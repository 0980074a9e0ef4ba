// Command greeter-server serves the Greeter example with the SDK's server
// options: (m)TLS from files, JWT verification, logging and metrics.
//
//	greeter-server -addr 127.0.0.1:50051 -insecure
//	greeter-server -addr :50051 -cert srv.pem -key srv-key.pem -ca ca.pem -jwks https://issuer/jwks.json
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/grpcmesh"
	"github.com/wasmesh/wasmesh/client/jwtauth"
	"github.com/wasmesh/wasmesh/examples/greeter/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "greeter-server:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:50051", "listen address")
	name := flag.String("name", "", "server name put in replies (default: the address)")
	cert := flag.String("cert", "", "server certificate (PEM)")
	key := flag.String("key", "", "server key (PEM)")
	ca := flag.String("ca", "", "CA for client certificates: makes mTLS required")
	jwks := flag.String("jwks", "", "JWKS URL: require a valid bearer JWT")
	algs := flag.String("jwt-alg", "RS256", "accepted JWT algorithm")
	metricsAddr := flag.String("metrics", "", "serve Prometheus /metrics on this address")
	plain := flag.Bool("insecure", false, "serve plaintext")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	m := grpcmesh.NewMetrics()
	opts := []grpcmesh.Option{grpcmesh.WithLogger(log), grpcmesh.WithMetrics(m)}
	if *plain {
		opts = append(opts, grpcmesh.WithInsecure())
	} else {
		opts = append(opts, grpcmesh.WithTLS(client.TLSFiles{CertFile: *cert, KeyFile: *key, CAFile: *ca}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *jwks != "" {
		v, err := jwtauth.New(ctx, jwtauth.Config{JWKSURL: *jwks, Algorithms: []string{*algs}})
		if err != nil {
			return err
		}
		opts = append(opts, grpcmesh.WithJWTVerifier(v, "/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"))
	}
	sopts, err := grpcmesh.ServerOptions(opts...)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = lis.Addr().String()
	}
	s := grpc.NewServer(sopts...)
	hs := server.Register(s, &server.Greeter{Name: *name})
	if *metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(m)
		go func() {
			err := http.ListenAndServe(*metricsAddr, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			log.Error("metrics server stopped", "err", err)
		}()
	}
	go func() {
		<-ctx.Done()
		hs.Shutdown() // report NOT_SERVING first, then drain
		s.GracefulStop()
	}()
	log.Info("greeter serving", "addr", lis.Addr().String())
	return s.Serve(lis)
}
