package grpcmesh

import (
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/jwtauth"
)

// Option configures NewClient, DialOptions and ServerOptions. Options that
// concern one side only are ignored by the other.
type Option func(*options)

type options struct {
	logger        *slog.Logger
	metrics       *Metrics
	tracer        trace.TracerProvider
	propagator    propagation.TextMapPropagator
	tokens        client.TokenSource
	tokensNoTLS   bool
	tls           *client.TLSFiles
	insecure      bool
	balancer      string
	verifier      *jwtauth.Verifier
	publicMethods []string
	retry         *retryPolicy
	healthService *string
}

type retryPolicy struct {
	attempts  int
	base, max time.Duration
	codes     []codes.Code
}

// WithLogger logs each RPC (method, code, duration, peer) at Debug when it
// succeeds and at Warn when it fails. Default: no logging.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMetrics records RPCs into m.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithTracerProvider sets where otelgrpc's spans go (default: the global
// provider, otel.GetTracerProvider()).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// WithPropagator sets how trace context travels in metadata (default: W3C
// trace context and baggage).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.propagator = p }
}

// WithTokenSource sends "authorization: Bearer <token>" with every RPC.
// Tokens are only sent over TLS unless WithInsecure is also given.
func WithTokenSource(ts client.TokenSource) Option { return func(o *options) { o.tokens = ts } }

// WithTLS uses (m)TLS from files, reloaded when they change. On a client,
// CertFile/KeyFile are its certificate for mTLS; on a server, CAFile makes
// client certificates required.
func WithTLS(f client.TLSFiles) Option { return func(o *options) { o.tls = &f } }

// WithInsecure allows plaintext (and tokens over it): for loopback,
// tests, or behind a sidecar that does mTLS. One of WithTLS and
// WithInsecure is required, so plaintext is never an accident.
func WithInsecure() Option {
	return func(o *options) { o.insecure, o.tokensNoTLS = true, true }
}

// WithBalancer picks the load-balancing policy: "round_robin" (grpc-go's,
// the default) or any of dataplane/lb's names (least_request, ring_hash,
// maglev, random, weighted), run by the balancer this package registers
// under BalancerPrefix+name.
func WithBalancer(name string) Option { return func(o *options) { o.balancer = name } }

// WithJWTVerifier makes ServerOptions verify the bearer token of every RPC
// (UNAUTHENTICATED on failure) except publicMethods, full method names
// such as "/grpc.health.v1.Health/Check". Prefixes ending in "/" match a
// whole service.
func WithJWTVerifier(v *jwtauth.Verifier, publicMethods ...string) Option {
	return func(o *options) { o.verifier, o.publicMethods = v, publicMethods }
}

// WithRetry turns on grpc-go's own retries (gRFC A6) through the service
// config: up to maxAttempts tries (capped at 5 by grpc-go) of calls that
// fail with one of codes (default UNAVAILABLE), waiting a random time up
// to base·2ⁿ (capped at max) between tries, and a retry budget
// (retryThrottling: 10 tokens, ratio 0.1) so retries stop when most calls
// fail. A call is retried only until the server has sent a response
// header, so a stream is never replayed once data has flowed.
func WithRetry(maxAttempts int, base, max time.Duration, on ...codes.Code) Option {
	return func(o *options) {
		if len(on) == 0 {
			on = []codes.Code{codes.Unavailable}
		}
		o.retry = &retryPolicy{attempts: maxAttempts, base: base, max: max, codes: on}
	}
}

// WithHealthCheck turns on client-side health checking (the gRPC health
// checking protocol, grpc.health.v1.Health/Watch) for service ("" is the
// server as a whole): endpoints reporting NOT_SERVING get no calls until
// they report SERVING again, so a draining server is left before it goes.
func WithHealthCheck(service string) Option {
	return func(o *options) { o.healthService = &service }
}
