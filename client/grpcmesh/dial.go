package grpcmesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // registers the client health-check function WithHealthCheck needs
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/dataplane/lb"
)

// NewClient is grpc.NewClient with DialOptions: target is usually
// mesh:///service-name, resolved through res.
func NewClient(target string, res client.Resolver, opts ...Option) (*grpc.ClientConn, error) {
	dopts, err := DialOptions(res, opts...)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(target, dopts...)
	if err != nil {
		return nil, fmt.Errorf("grpcmesh: %w", err)
	}
	return cc, nil
}

// DialOptions returns the dial options NewClient uses, to combine with
// one's own: the mesh resolver (when res is not nil), the balancer as
// default service config, transport and per-RPC credentials, otelgrpc's
// client stats handler and the client interceptors.
func DialOptions(res client.Resolver, opts ...Option) ([]grpc.DialOption, error) {
	o := build(opts)
	var d []grpc.DialOption
	if res != nil {
		d = append(d, grpc.WithResolvers(ResolverBuilder(res)))
	}
	bal := "round_robin"
	if o.balancer != "" && o.balancer != "round_robin" {
		if _, err := lb.New(o.balancer, nil); err != nil {
			return nil, fmt.Errorf("grpcmesh: balancer: %w", err)
		}
		bal = BalancerPrefix + o.balancer
	}
	sc, err := serviceConfig(bal, o.retry, o.healthService)
	if err != nil {
		return nil, err
	}
	d = append(d, grpc.WithDefaultServiceConfig(sc))
	switch {
	case o.tls != nil:
		creds, err := ClientCredentials(*o.tls)
		if err != nil {
			return nil, err
		}
		d = append(d, grpc.WithTransportCredentials(creds))
	case o.insecure:
		d = append(d, grpc.WithTransportCredentials(insecure.NewCredentials()))
	default:
		return nil, errors.New("grpcmesh: choose WithTLS or WithInsecure")
	}
	if o.tokens != nil {
		d = append(d, grpc.WithPerRPCCredentials(TokenCredentials(o.tokens, !o.tokensNoTLS)))
	}
	d = append(d,
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(o.otelOptions()...)),
		grpc.WithChainUnaryInterceptor(o.unaryClient),
		grpc.WithChainStreamInterceptor(o.streamClient),
	)
	return d, nil
}

// ServerOptions returns grpc.ServerOptions for a service in the mesh:
// (m)TLS credentials (WithTLS, or WithInsecure), otelgrpc's server stats
// handler, and the server interceptors (JWT verification with
// WithJWTVerifier, logging, metrics, error to status mapping).
func ServerOptions(opts ...Option) ([]grpc.ServerOption, error) {
	o := build(opts)
	var s []grpc.ServerOption
	switch {
	case o.tls != nil:
		creds, err := ServerCredentials(*o.tls)
		if err != nil {
			return nil, err
		}
		s = append(s, grpc.Creds(creds))
	case o.insecure:
	default:
		return nil, errors.New("grpcmesh: choose WithTLS or WithInsecure")
	}
	s = append(s,
		grpc.StatsHandler(otelgrpc.NewServerHandler(o.otelOptions()...)),
		grpc.ChainUnaryInterceptor(o.unaryServer),
		grpc.ChainStreamInterceptor(o.streamServer),
	)
	return s, nil
}

// serviceConfig writes the default service config: the balancer and,
// with WithRetry, a retry policy for every method plus retry throttling.
func serviceConfig(balancer string, r *retryPolicy, health *string) (string, error) {
	sc := map[string]any{"loadBalancingConfig": []any{map[string]any{balancer: map[string]any{}}}}
	if health != nil {
		sc["healthCheckConfig"] = map[string]any{"serviceName": *health}
	}
	if r != nil {
		if r.attempts < 2 || r.base <= 0 || r.max < r.base {
			return "", fmt.Errorf("grpcmesh: WithRetry: need attempts >= 2 and 0 < base <= max")
		}
		names := make([]string, len(r.codes))
		for i, c := range r.codes {
			names[i] = strings.ToUpper(toSnake(c.String()))
		}
		sc["methodConfig"] = []any{map[string]any{
			"name": []any{map[string]any{}},
			"retryPolicy": map[string]any{
				"maxAttempts":          r.attempts,
				"initialBackoff":       fmt.Sprintf("%.6fs", r.base.Seconds()),
				"maxBackoff":           fmt.Sprintf("%.6fs", r.max.Seconds()),
				"backoffMultiplier":    2,
				"retryableStatusCodes": names,
			},
		}}
		sc["retryThrottling"] = map[string]any{"maxTokens": 10, "tokenRatio": 0.1}
	}
	b, err := json.Marshal(sc)
	return string(b), err
}

// toSnake turns grpc-go's code names (DeadlineExceeded) into the service
// config's (DEADLINE_EXCEEDED after upper-casing).
func toSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (o *options) otelOptions() []otelgrpc.Option {
	p := o.propagator
	if p == nil {
		p = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	out := []otelgrpc.Option{otelgrpc.WithPropagators(p)}
	if o.tracer != nil {
		out = append(out, otelgrpc.WithTracerProvider(o.tracer))
	}
	return out
}

// ClientCredentials are TLS transport credentials from files, reloaded
// when they change; with CertFile/KeyFile the client presents its
// certificate (mTLS). The server name checked is files.ServerName, or
// else the target's authority (the service name for mesh:///name).
func ClientCredentials(files client.TLSFiles) (credentials.TransportCredentials, error) {
	cfg, err := files.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("grpcmesh: %w", err)
	}
	return credentials.NewTLS(cfg), nil
}

// ServerCredentials are TLS transport credentials from files, reloaded
// when they change; with CAFile, client certificates are required (mTLS).
func ServerCredentials(files client.TLSFiles) (credentials.TransportCredentials, error) {
	cfg, err := files.ServerConfig()
	if err != nil {
		return nil, fmt.Errorf("grpcmesh: %w", err)
	}
	return credentials.NewTLS(cfg), nil
}

// TokenCredentials sends a bearer token from ts with every RPC. With
// requireTLS, grpc-go refuses to send it over plaintext.
func TokenCredentials(ts client.TokenSource, requireTLS bool) credentials.PerRPCCredentials {
	return tokenCreds{ts: ts, tls: requireTLS}
}

type tokenCreds struct {
	ts  client.TokenSource
	tls bool
}

func (c tokenCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := c.ts.Token(ctx)
	if err != nil {
		// A status error keeps its code; any other would become UNAVAILABLE
		// and be retried as if the server were down.
		return nil, status.Errorf(codes.Unauthenticated, "grpcmesh: token source: %v", err)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (c tokenCreds) RequireTransportSecurity() bool { return c.tls }
