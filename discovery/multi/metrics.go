package multi

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus collectors of one or more multi registries.
// Make one with NewMetrics, pass it to every New with WithMetrics and
// register it once (it is a prometheus.Collector).
type Metrics struct {
	up        *prometheus.GaugeVec
	failures  *prometheus.CounterVec
	instances *prometheus.GaugeVec
	stale     *prometheus.GaugeVec
	updates   *prometheus.CounterVec
}

// NewMetrics creates the collectors, unregistered.
func NewMetrics() *Metrics {
	return &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "wasmesh", Subsystem: "discovery", Name: "backend_up",
			Help: "1 while the discovery backend answers, 0 while it fails.",
		}, []string{"backend"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wasmesh", Subsystem: "discovery", Name: "backend_failures_total",
			Help: "Times the discovery backend went from answering to failing.",
		}, []string{"backend"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "wasmesh", Subsystem: "discovery", Name: "instances",
			Help: "Instances a backend contributes to a watched service (stale ones included while kept).",
		}, []string{"backend", "service"}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "wasmesh", Subsystem: "discovery", Name: "stale",
			Help: "1 while a watched service serves the last known instances of a failing backend.",
		}, []string{"backend", "service"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wasmesh", Subsystem: "discovery", Name: "updates_total",
			Help: "Merged instance sets delivered to watchers of a service.",
		}, []string{"service"}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.up, m.failures, m.instances, m.stale, m.updates}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}
