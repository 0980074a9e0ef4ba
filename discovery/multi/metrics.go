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

// NewMetrics creates the collectors, unregistered, named
// <namespace>_discovery_*: "wasmesh" in a user's process, "meshd" inside
// meshd, so one process's families share one prefix.
func NewMetrics(namespace string) *Metrics {
	return &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "discovery", Name: "registry_up",
			Help: "1 while the registry answers, 0 while it fails.",
		}, []string{"registry"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "discovery", Name: "registry_failures_total",
			Help: "Times the registry went from answering to failing.",
		}, []string{"registry"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "discovery", Name: "instances",
			Help: "Instances a registry contributes to a watched service (stale ones included while kept).",
		}, []string{"registry", "service"}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "discovery", Name: "stale",
			Help: "1 while a watched service serves the last known instances of a failing registry.",
		}, []string{"registry", "service"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "discovery", Name: "updates_total",
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
