// Package stats defines meshd's Prometheus metrics in one place, so names
// and labels stay consistent. Label values are resolved when a snapshot is
// built, never per request: the hot path only touches atomics.
package stats

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wasmesh/wasmesh/internal/telemetry"
)

// Stats holds every metric family the data plane writes.
type Stats struct {
	Registry *prometheus.Registry

	ListenerConns      *prometheus.GaugeVec
	ListenerRequests   *prometheus.CounterVec
	TLSHandshakeErrors *prometheus.CounterVec

	ServerDuration *prometheus.HistogramVec
	RPCDuration    *prometheus.HistogramVec

	UpstreamDuration  *prometheus.HistogramVec
	UpstreamRetries   *prometheus.CounterVec
	UpstreamOverflow  *prometheus.CounterVec
	UpstreamTimeouts  *prometheus.CounterVec
	UpstreamErrors    *prometheus.CounterVec
	UpstreamActive    *prometheus.GaugeVec
	UpstreamEjections *prometheus.CounterVec
	LBPanic           *prometheus.GaugeVec
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
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: telemetry.LatencyBuckets}, labels)
		r.MustRegister(v)
		return v
	}
	s.ListenerConns = gv("meshd_listener_active_connections", "Downstream connections open on a listener.", "listener")
	s.ListenerRequests = cv("meshd_listener_requests_total", "Requests received by a listener, any outcome.", "listener")
	s.TLSHandshakeErrors = cv("meshd_listener_tls_handshake_errors_total", "TLS handshakes that failed on a listener (bad or missing client certificate included).", "listener")
	s.ServerDuration = hv("meshd_http_server_request_duration_seconds", "Request received to response written, per route, by status class and outcome (OTel http.server.request.duration).", "listener", "route", "code_class", telemetry.LabelOutcome)
	s.RPCDuration = hv("meshd_rpc_server_duration_seconds", "gRPC calls through a route, request received to status sent, by gRPC status code (OTel rpc.server.duration).", "listener", "route", "rpc_grpc_status_code", telemetry.LabelOutcome)
	s.UpstreamDuration = hv("meshd_http_client_request_duration_seconds", "One upstream try per cluster, by status class and outcome; a try without a response is 5xx (OTel http.client.request.duration).", "cluster", "code_class", telemetry.LabelOutcome)
	s.UpstreamRetries = cv("meshd_cluster_upstream_retries_total", "Retries sent per cluster.", "cluster")
	s.UpstreamOverflow = cv("meshd_cluster_upstream_overflow_total", "Requests refused by a circuit breaker or the retry budget, per limit.", "cluster", "limit")
	s.UpstreamTimeouts = cv("meshd_cluster_upstream_timeouts_total", "Timeouts per cluster and kind (per_try, total).", "cluster", "kind")
	s.UpstreamErrors = cv("meshd_cluster_upstream_errors_total", "Upstream tries that failed without a response, per kind (connect, reset).", "cluster", "kind")
	s.UpstreamActive = gv("meshd_cluster_upstream_active_requests", "Requests in flight to a cluster.", "cluster")
	s.UpstreamEjections = cv("meshd_cluster_outlier_ejections_total", "Endpoints ejected by outlier detection.", "cluster")
	s.LBPanic = gv("meshd_cluster_lb_panic", "1 while a ring_hash or maglev cluster balances over every endpoint because fewer than lb_panic_threshold percent are available.", "cluster")
	s.Endpoints = gv("meshd_cluster_endpoints", "Endpoints per cluster by state (healthy, unhealthy, ejected).", "cluster", "state")
	s.HealthChecks = cv("meshd_cluster_health_checks_total", "Active health checks per cluster by result.", "cluster", "result")
	s.Reloads = cv("meshd_config_reloads_total", "Config reloads by result (success, failure).", "result")
	s.ReloadFailed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshd_config_last_reload_failed", Help: "1 when the last reload was rejected and an older config is serving."})
	r.MustRegister(s.ReloadFailed)
	s.ConfigInfo = gv("meshd_config_info", "The config version in force (value 1).", "version")
	return s
}
