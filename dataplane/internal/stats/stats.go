// Package stats defines meshd's Prometheus metrics in one place, so names
// and labels stay consistent. Label values are resolved when a snapshot is
// built, never per request: the hot path only touches atomics.
package stats

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Latency buckets in seconds, from 0.25 ms to 30 s.
var latencyBuckets = []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Stats holds every metric family the data plane writes.
type Stats struct {
	Registry *prometheus.Registry

	ListenerConns      *prometheus.GaugeVec
	ListenerRequests   *prometheus.CounterVec
	TLSHandshakeErrors *prometheus.CounterVec

	RouteRequests *prometheus.CounterVec
	RouteDuration *prometheus.HistogramVec

	UpstreamRequests  *prometheus.CounterVec
	UpstreamDuration  *prometheus.HistogramVec
	UpstreamRetries   *prometheus.CounterVec
	UpstreamOverflow  *prometheus.CounterVec
	UpstreamTimeouts  *prometheus.CounterVec
	UpstreamErrors    *prometheus.CounterVec
	UpstreamActive    *prometheus.GaugeVec
	UpstreamEjections *prometheus.CounterVec
	Endpoints         *prometheus.GaugeVec
	HealthChecks      *prometheus.CounterVec

	Reloads      *prometheus.CounterVec
	ReloadFailed prometheus.Gauge
	ConfigInfo   *prometheus.GaugeVec
}

// New registers every family on a fresh registry, with Go runtime and
// process metrics beside them.
func New() *Stats {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Stats{Registry: r}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		r.MustRegister(v)
		return v
	}
	gv := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		r.MustRegister(v)
		return v
	}
	hv := func(name, help string, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
		r.MustRegister(v)
		return v
	}
	s.ListenerConns = gv("meshd_listener_active_connections", "Downstream connections open on a listener.", "listener")
	s.ListenerRequests = cv("meshd_listener_requests_total", "Requests received by a listener, any outcome.", "listener")
	s.TLSHandshakeErrors = cv("meshd_listener_tls_handshake_errors_total", "TLS handshakes that failed on a listener (bad or missing client certificate included).", "listener")
	s.RouteRequests = cv("meshd_route_requests_total", "Requests answered per route, by status class.", "listener", "route", "code_class")
	s.RouteDuration = hv("meshd_route_request_duration_seconds", "Total time from request received to response written, per route.", "listener", "route")
	s.UpstreamRequests = cv("meshd_cluster_upstream_requests_total", "Upstream tries per cluster, by status class (reset and timeout included as 5xx).", "cluster", "code_class")
	s.UpstreamDuration = hv("meshd_cluster_upstream_request_duration_seconds", "Time of one upstream try, per cluster.", "cluster")
	s.UpstreamRetries = cv("meshd_cluster_upstream_retries_total", "Retries sent per cluster.", "cluster")
	s.UpstreamOverflow = cv("meshd_cluster_upstream_overflow_total", "Requests refused by a circuit breaker or the retry budget, per limit.", "cluster", "limit")
	s.UpstreamTimeouts = cv("meshd_cluster_upstream_timeouts_total", "Timeouts per cluster and kind (per_try, total).", "cluster", "kind")
	s.UpstreamErrors = cv("meshd_cluster_upstream_errors_total", "Upstream tries that failed without a response, per kind (connect, reset).", "cluster", "kind")
	s.UpstreamActive = gv("meshd_cluster_upstream_active_requests", "Requests in flight to a cluster.", "cluster")
	s.UpstreamEjections = cv("meshd_cluster_outlier_ejections_total", "Endpoints ejected by outlier detection.", "cluster")
	s.Endpoints = gv("meshd_cluster_endpoints", "Endpoints per cluster by state (healthy, unhealthy, ejected).", "cluster", "state")
	s.HealthChecks = cv("meshd_cluster_health_checks_total", "Active health checks per cluster by result.", "cluster", "result")
	s.Reloads = cv("meshd_config_reloads_total", "Config reloads by result (success, failure).", "result")
	s.ReloadFailed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshd_config_last_reload_failed", Help: "1 when the last reload was rejected and an older config is serving."})
	r.MustRegister(s.ReloadFailed)
	s.ConfigInfo = gv("meshd_config_info", "The config version in force (value 1).", "version")
	return s
}

// Classes are status classes in label form, indexed by status/100.
var Classes = [6]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// ClassCounters resolves one counter per status class, for the hot path.
func ClassCounters(v *prometheus.CounterVec, labels ...string) [6]prometheus.Counter {
	var out [6]prometheus.Counter
	for i, c := range Classes {
		out[i] = v.WithLabelValues(append(append([]string(nil), labels...), c)...)
	}
	return out
}

// Class maps a status to its index in Classes.
func Class(status int) int {
	c := status / 100
	if c < 1 || c > 5 {
		return 5
	}
	return c
}
