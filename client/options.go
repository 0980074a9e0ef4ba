package client

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a Transport.
type Option func(*config)

// BreakerConfig says when an endpoint's circuit opens and when it is tried
// again. Zero fields take defaults: 5 consecutive failures, ratio rule off
// (min 20 requests when on), 10s window, 5s cool-down, 1 half-open probe.
// A failure is a transport error or a 5xx response.
type BreakerConfig struct {
	// ConsecutiveFailures opens the circuit after this many failures in a
	// row; negative disables the rule.
	ConsecutiveFailures int
	// FailureRatio opens the circuit when failures/requests in the window
	// reaches it (0 disables), once MinRequests were seen.
	FailureRatio float64
	MinRequests  int
	// Window is how long closed-state counts live before they reset.
	Window time.Duration
	// CoolDown is how long the circuit stays open before a probe.
	CoolDown time.Duration
	// HalfOpenProbes is how many probes may run at once, and how many
	// must succeed to close the circuit.
	HalfOpenProbes int
}

// RetryPolicy says which requests are tried again and how long to wait.
// Zero fields take defaults: 3 attempts, 25ms base, 1s cap, statuses
// 502/503/504, budget 20% plus 10 retries/s.
type RetryPolicy struct {
	// MaxAttempts counts the first try; 1 disables retries.
	MaxAttempts int
	// BaseDelay and MaxDelay bound the full-jitter exponential backoff:
	// retry n waits a random time in [0, min(MaxDelay, BaseDelay·2ⁿ)).
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// RetryOnStatus lists the response codes worth another try.
	RetryOnStatus []int
	// NonIdempotent retries POST and PATCH too (they must have GetBody
	// set, as http.NewRequest does for in-memory bodies). Per request, use
	// AllowRetry on the context instead.
	NonIdempotent bool
	// BudgetRatio caps retries at this share of requests (0: 0.2).
	// Retries spent count against the budget of the whole Transport.
	BudgetRatio float64
	// BudgetMinPerSecond retries are always allowed (0: 10; negative: none,
	// only the ratio counts).
	BudgetMinPerSecond int
}

type config struct {
	policy         string
	breaker        BreakerConfig
	retry          RetryPolicy
	connectTimeout time.Duration
	readTimeout    time.Duration
	totalTimeout   time.Duration
	tokens         TokenSource
	propagator     propagation.TextMapPropagator
	tracer         trace.TracerProvider
	corrHeader     string
	metrics        *Metrics
	logger         *slog.Logger
	hashKey        func(*http.Request) []byte
	fallback       http.RoundTripper
	base           *http.Transport
	tls            *tls.Config
}

// WithPolicy names the load-balancing policy, one of dataplane/lb's
// (round_robin, weighted, least_request, random, ring_hash, maglev).
// Default round_robin.
func WithPolicy(name string) Option { return func(c *config) { c.policy = name } }

// WithHashKey gives the request key for ring_hash and maglev (a user id
// header, say); requests with the same key go to the same endpoint.
func WithHashKey(f func(*http.Request) []byte) Option {
	return func(c *config) { c.hashKey = f }
}

// WithBreaker sets the per-endpoint circuit breaker.
func WithBreaker(b BreakerConfig) Option { return func(c *config) { c.breaker = b } }

// WithRetry sets the retry policy.
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithConnectTimeout bounds each TCP (and TLS) connect. Default 5s.
func WithConnectTimeout(d time.Duration) Option { return func(c *config) { c.connectTimeout = d } }

// WithReadTimeout bounds each try's wait for response headers after the
// request is written. Default 0: none beyond the total timeout.
func WithReadTimeout(d time.Duration) Option { return func(c *config) { c.readTimeout = d } }

// WithTotalTimeout bounds the whole request, retries and reading the body
// included. Default 0: only the request's context bounds it.
func WithTotalTimeout(d time.Duration) Option { return func(c *config) { c.totalTimeout = d } }

// WithTokenSource adds "Authorization: Bearer <token>" to requests that do
// not carry an Authorization header already.
func WithTokenSource(ts TokenSource) Option { return func(c *config) { c.tokens = ts } }

// WithPropagator sets how trace context is written into headers. Default:
// W3C traceparent/tracestate and baggage.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

// WithTracerProvider makes the transport start a client span per request
// (the propagated context is then that span's). Without it the caller's
// span context is propagated as is.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tracer = tp } }

// WithCorrelationHeader renames the correlation id header
// (DefaultCorrelationHeader).
func WithCorrelationHeader(name string) Option { return func(c *config) { c.corrHeader = name } }

// WithMetrics records requests into m.
func WithMetrics(m *Metrics) Option { return func(c *config) { c.metrics = m } }

// WithLogger logs breaker changes and endpoint updates (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithFallback sends requests for hosts the resolver does not know
// (ErrUnknownService) to rt, typically http.DefaultTransport, so one
// client serves mesh and outside URLs alike. Without it they fail.
func WithFallback(rt http.RoundTripper) Option { return func(c *config) { c.fallback = rt } }

// WithBaseTransport sets the transport that carries each try (it is
// cloned; the SDK sets its dialer and header timeout). Default: a clone
// of http.DefaultTransport.
func WithBaseTransport(t *http.Transport) Option { return func(c *config) { c.base = t } }

// WithTLSConfig sets the TLS config for https:// service URLs (mTLS with
// TLSFiles.ClientConfig). Set ServerName to the name in the endpoints'
// certificates: the URL host is a logical name, not a DNS name.
func WithTLSConfig(t *tls.Config) Option { return func(c *config) { c.tls = t } }
