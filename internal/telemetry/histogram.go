package telemetry

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// lazyObs resolves one histogram child the first time it is used, so a
// route or cluster shows only the status classes it has served rather
// than a zero series for each.
type lazyObs struct {
	once sync.Once
	o    prometheus.Observer
}

// get returns the child, resolving it with labels() on first use; labels
// is only called then, so the hot path allocates nothing.
func (l *lazyObs) get(vec *prometheus.HistogramVec, labels func() []string) prometheus.Observer {
	l.once.Do(func() { l.o = vec.WithLabelValues(labels()...) })
	return l.o
}

// ClassHistogram is a duration histogram labelled by status class and
// outcome, with its fixed labels resolved once (at snapshot build) and
// each child on first use: the hot path costs an atomic load and the
// observation.
type ClassHistogram struct {
	vec    *prometheus.HistogramVec
	labels []string
	obs    [6][2]lazyObs
}

// NewClassHistogram binds vec's leading labels; vec's last two labels must
// be code_class and outcome.
func NewClassHistogram(vec *prometheus.HistogramVec, labels ...string) *ClassHistogram {
	return &ClassHistogram{vec: vec, labels: labels}
}

// Observe records one request of the given status (0: no response) that
// took seconds; failed marks an error outcome beyond the status (a gRPC
// server fault carried under HTTP 200), and a 5xx is always an error.
func (h *ClassHistogram) Observe(status int, failed bool, seconds float64) {
	c := CodeClass(status)
	o := 0
	if failed || c == 5 {
		o = 1
	}
	h.obs[c][o].get(h.vec, func() []string {
		out := Success
		if o == 1 {
			out = Error
		}
		return append(append(make([]string, 0, len(h.labels)+2), h.labels...), CodeClasses[c], out)
	}).Observe(seconds)
}

// RPCHistogram is a duration histogram labelled by gRPC status code (0 to
// 16; anything else counts as UNKNOWN) and the outcome that code implies.
type RPCHistogram struct {
	vec    *prometheus.HistogramVec
	labels []string
	obs    [17]lazyObs
}

// NewRPCHistogram binds vec's leading labels; vec's last two labels must be
// rpc_grpc_status_code and outcome.
func NewRPCHistogram(vec *prometheus.HistogramVec, labels ...string) *RPCHistogram {
	return &RPCHistogram{vec: vec, labels: labels}
}

// Observe records one call that ended with the gRPC status code.
func (h *RPCHistogram) Observe(code int, seconds float64) {
	if code < 0 || code > 16 {
		code = 2
	}
	h.obs[code].get(h.vec, func() []string {
		return append(append(make([]string, 0, len(h.labels)+2), h.labels...), strconv.Itoa(code), GRPCOutcome(code))
	}).Observe(seconds)
}
