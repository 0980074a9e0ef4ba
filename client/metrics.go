package client

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the HTTP client's Prometheus collectors. Make one with
// NewMetrics, register it (it is a prometheus.Collector) and pass it with
// WithMetrics; several transports may share one.
//
//	wasmesh_client_requests_total{service,outcome}        outcome: success|error
//	wasmesh_client_request_duration_seconds{service,outcome}  to response headers, retries included
//	wasmesh_client_errors_total{service,kind}             kind: timeout|connect|circuit_open|no_endpoints|status_5xx|canceled|other
//	wasmesh_client_retries_total{service}
//	wasmesh_client_breaker_transitions_total{service,to}  to: open|half_open|closed
//
// Success rate is requests_total{outcome="success"} / requests_total; error
// rate is errors_total / requests_total.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	retries     *prometheus.CounterVec
	transitions *prometheus.CounterVec
}

// NewMetrics makes the collectors, unregistered.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmesh_client_requests_total",
			Help: "Requests sent by the client SDK, by outcome (error: transport error or 5xx).",
		}, []string{"service", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasmesh_client_request_duration_seconds",
			Help:    "Time from the request to its response headers, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmesh_client_errors_total",
			Help: "Failed requests by kind of failure.",
		}, []string{"service", "kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmesh_client_retries_total",
			Help: "Retries sent (not counting the first try).",
		}, []string{"service"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmesh_client_breaker_transitions_total",
			Help: "Circuit breaker state changes of the service's endpoints.",
		}, []string{"service", "to"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.errors.Describe(ch)
	m.retries.Describe(ch)
	m.transitions.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.errors.Collect(ch)
	m.retries.Collect(ch)
	m.transitions.Collect(ch)
}
