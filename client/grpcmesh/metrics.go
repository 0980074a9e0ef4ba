package grpcmesh

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/wasmesh/wasmesh/internal/telemetry"
)

// Metrics are the gRPC Prometheus collectors, for clients and servers.
// Register it (it is a prometheus.Collector) and pass it with WithMetrics.
// The names are OpenTelemetry's rpc.client.duration and rpc.server.duration
// translated to Prometheus (docs/metrics.md, Conventions), as meshd writes
// them:
//
//	wasmesh_rpc_client_duration_seconds{rpc_service,rpc_method,rpc_grpc_status_code,outcome}  streams: until the status
//	wasmesh_rpc_server_duration_seconds{rpc_service,rpc_method,rpc_grpc_status_code,outcome}  streams: until the handler returns
//
// rpc_service is the gRPC service (package.Service), rpc_method the method
// name, rpc_grpc_status_code the numeric status ("0" is OK, "14"
// UNAVAILABLE). RPCs per second are rate(..._duration_seconds_count); the
// error rate is the share with outcome="error" (a server fault: UNKNOWN,
// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS).
type Metrics struct {
	client, server side
}

// side is one histogram and its series already looked up, per full
// method name: label hashing per RPC would cost more than the
// observation.
type side struct {
	vec     *prometheus.HistogramVec
	methods sync.Map // full method → *methodSeries
}

// methodSeries are one method's series by status code, made on first use.
type methodSeries struct {
	service, method string
	byCode          [len(codeLabels)]atomic.Pointer[prometheus.Observer]
}

// codeLabels are the rpc_grpc_status_code values of the codes gRPC
// defines, indexed by code.
var codeLabels = func() (l [codes.Unauthenticated + 1]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

// NewMetrics makes the collectors under the "wasmesh" prefix, unregistered.
func NewMetrics() *Metrics { return NewMetricsWithNamespace("wasmesh") }

// NewMetricsWithNamespace makes the collectors with names starting
// namespace_ instead of wasmesh_, for a process that keeps one prefix for
// all its metrics (docs/metrics.md, Conventions).
func NewMetricsWithNamespace(namespace string) *Metrics {
	labels := []string{"rpc_service", "rpc_method", "rpc_grpc_status_code", telemetry.LabelOutcome}
	return &Metrics{
		client: side{vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "rpc_client_duration_seconds", Buckets: telemetry.LatencyBuckets,
			Help: "RPCs made by the client, by status code (streams: until the status).",
		}, labels)},
		server: side{vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "rpc_server_duration_seconds", Buckets: telemetry.LatencyBuckets,
			Help: "RPCs handled by the server, by status code (streams: until the handler returns).",
		}, labels)},
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.client.vec.Describe(ch)
	m.server.vec.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.client.vec.Collect(ch)
	m.server.vec.Collect(ch)
}

// observe records one finished RPC of fullMethod ("/pkg.Svc/Method").
func (s *side) observe(fullMethod string, code codes.Code, seconds float64) {
	v, ok := s.methods.Load(fullMethod)
	if !ok {
		svc, m := splitMethod(fullMethod)
		v, _ = s.methods.LoadOrStore(fullMethod, &methodSeries{service: svc, method: m})
	}
	ms := v.(*methodSeries)
	outcome := telemetry.GRPCOutcome(int(code))
	if int(code) >= len(ms.byCode) { // not a code gRPC defines: rare, not cached
		s.vec.WithLabelValues(ms.service, ms.method, strconv.FormatUint(uint64(code), 10), outcome).Observe(seconds)
		return
	}
	o := ms.byCode[code].Load()
	if o == nil {
		obs := s.vec.WithLabelValues(ms.service, ms.method, codeLabels[code], outcome)
		o = &obs
		ms.byCode[code].Store(o) // a racing store holds the same child
	}
	(*o).Observe(seconds)
}
