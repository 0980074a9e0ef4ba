package client

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmesh/wasmesh/internal/telemetry"
)

// Metrics are the HTTP client's Prometheus collectors. Make one with
// NewMetrics, register it (it is a prometheus.Collector) and pass it with
// WithMetrics; several transports may share one. The names follow
// OpenTelemetry's http.client.* conventions and docs/metrics.md, the same
// shape meshd writes for its upstream tries, so one dashboard reads both:
//
//	wasmesh_http_client_request_duration_seconds{service,code_class,outcome}  to response headers, retries included
//	wasmesh_http_client_errors_total{service,error_type}   error_type: timeout|connect|circuit_open|no_endpoints|status_5xx|canceled|other
//	wasmesh_http_client_retries_total{service}
//	wasmesh_http_client_breaker_transitions_total{service,to}  to: open|half_open|closed
//
// One observation per request the application sent; requests per second
// are rate(..._duration_seconds_count), the error rate is the share with
// outcome="error" (a 5xx, or no response at all, which counts as code_class
// "5xx" as in meshd).
type Metrics struct {
	duration    *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	retries     *prometheus.CounterVec
	transitions *prometheus.CounterVec
}

// NewMetrics makes the collectors under the "wasmesh" prefix, unregistered.
func NewMetrics() *Metrics { return NewMetricsWithNamespace("wasmesh") }

// NewMetricsWithNamespace makes the collectors with names starting
// namespace_ instead of wasmesh_, for a process that keeps one prefix for
// all its metrics (docs/metrics.md, Conventions).
func NewMetricsWithNamespace(namespace string) *Metrics {
	return &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_client_request_duration_seconds",
			Help:    "Requests sent by the client SDK, from the request to its response headers, retries included; a request without a response is code_class 5xx.",
			Buckets: telemetry.LatencyBuckets,
		}, []string{"service", "code_class", telemetry.LabelOutcome}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_client_errors_total",
			Help: "Failed requests (no response or a 5xx) by error type.",
		}, []string{"service", "error_type"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_client_retries_total",
			Help: "Retries sent (not counting the first try).",
		}, []string{"service"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_client_breaker_transitions_total",
			Help: "Circuit breaker state changes of the service's endpoints.",
		}, []string{"service", "to"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.duration.Describe(ch)
	m.errors.Describe(ch)
	m.retries.Describe(ch)
	m.transitions.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.duration.Collect(ch)
	m.errors.Collect(ch)
	m.retries.Collect(ch)
	m.transitions.Collect(ch)
}

// svcMetrics are one service's series, looked up once each: label hashing
// per request would cost more than the rest of the bookkeeping. The
// duration series are made on first use (telemetry.ClassHistogram, as
// meshd's), so a service that never saw a 1xx does not export an empty
// histogram for it.
type svcMetrics struct {
	m        *Metrics
	name     string
	duration *telemetry.ClassHistogram
	retries  prometheus.Counter
}

func newSvcMetrics(m *Metrics, name string) *svcMetrics {
	return &svcMetrics{m: m, name: name, duration: telemetry.NewClassHistogram(m.duration, name), retries: m.retries.WithLabelValues(name)}
}

// observe records one finished request: status is 0 when there was no
// response, and then err (the transport's error) gives the error type; a
// 5xx with err nil counts as status_5xx.
func (s *svcMetrics) observe(status int, seconds float64, err error) {
	s.duration.Observe(status, false, seconds)
	if telemetry.HTTPOutcome(status) == telemetry.Error {
		s.m.errors.WithLabelValues(s.name, errorKind(err)).Inc()
	}
}
