package grpcmesh

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the gRPC Prometheus collectors, for clients and servers.
// Register it (it is a prometheus.Collector) and pass it with WithMetrics.
//
//	wasmesh_grpc_client_handled_total{service,method,code}
//	wasmesh_grpc_client_handling_seconds{service,method}
//	wasmesh_grpc_server_handled_total{service,method,code}
//	wasmesh_grpc_server_handling_seconds{service,method}
//
// service is the gRPC service (package.Service), method the method name;
// success rate is handled_total{code="OK"} / handled_total.
type Metrics struct {
	clientHandled *prometheus.CounterVec
	clientSeconds *prometheus.HistogramVec
	serverHandled *prometheus.CounterVec
	serverSeconds *prometheus.HistogramVec
}

// NewMetrics makes the collectors, unregistered.
func NewMetrics() *Metrics {
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 16)
	return &Metrics{
		clientHandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmesh_grpc_client_handled_total",
			Help: "RPCs completed by the client, by status code.",
		}, []string{"service", "method", "code"}),
		clientSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wasmesh_grpc_client_handling_seconds", Buckets: buckets,
			Help: "Client-side RPC latency (streams: until the status).",
		}, []string{"service", "method"}),
		serverHandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmesh_grpc_server_handled_total",
			Help: "RPCs completed by the server, by status code.",
		}, []string{"service", "method", "code"}),
		serverSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wasmesh_grpc_server_handling_seconds", Buckets: buckets,
			Help: "Server-side RPC latency (streams: until the handler returns).",
		}, []string{"service", "method"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.clientHandled.Describe(ch)
	m.clientSeconds.Describe(ch)
	m.serverHandled.Describe(ch)
	m.serverSeconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.clientHandled.Collect(ch)
	m.clientSeconds.Collect(ch)
	m.serverHandled.Collect(ch)
	m.serverSeconds.Collect(ch)
}
