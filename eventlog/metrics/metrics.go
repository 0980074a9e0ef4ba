package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/outbox"
	"github.com/wasmesh/wasmesh/eventlog/replication"
	"github.com/wasmesh/wasmesh/internal/telemetry"
)

// DefaultNamespace is the prefix a program embedding the library gets
// when it passes no namespace; meshd passes "meshd" so everything on its
// /metrics shares one prefix (docs/metrics.md, "Conventions").
const DefaultNamespace = "wasmesh"

const subsystem = "eventlog"

// Metrics builds every event-log collector under one namespace, so all of
// them are <namespace>_eventlog_<name>. It is itself the collector of the
// append latency histogram, which the instrumented store
// (eventlog/instrument) records for any backend; register it once and
// register the per-log, per-relay and per-replicator collectors it makes
// beside it. A nil *Metrics records nothing.
type Metrics struct {
	ns             string
	appendDuration *prometheus.HistogramVec
}

// New creates the collectors under namespace ("" means DefaultNamespace).
func New(namespace string) *Metrics {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &Metrics{
		ns: namespace,
		appendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "append_duration_seconds",
			Help:    "Time of one append, call to acknowledgement (as durable as the store's setting), by outcome; its count is the append rate.",
			Buckets: telemetry.LatencyBuckets,
		}, []string{"log", telemetry.LabelOutcome}),
	}
}

// Describe implements prometheus.Collector (the append histogram).
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { m.appendDuration.Describe(ch) }

// Collect implements prometheus.Collector (the append histogram).
func (m *Metrics) Collect(ch chan<- prometheus.Metric) { m.appendDuration.Collect(ch) }

// ObserveAppend records one append to log that took d and returned err
// (nil: outcome success; any error, a version conflict included: error).
func (m *Metrics) ObserveAppend(log string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.appendDuration.WithLabelValues(log, telemetry.ErrOutcome(err)).Observe(d.Seconds())
}

// collector turns a snapshot function into Prometheus samples at scrape time.
type collector struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

func (m *Metrics) desc(name, help string, variable []string, constant prometheus.Labels) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(m.ns, subsystem, name), help, variable, constant)
}

// FileLog exports a file log's counters, labelled with log="name".
func (m *Metrics) FileLog(name string, l *filelog.Log) prometheus.Collector {
	lb := prometheus.Labels{"log": name}
	appends := m.desc("appends_total", "Appends acknowledged since open.", nil, lb)
	events := m.desc("events_total", "Events appended since open.", nil, lb)
	commits := m.desc("group_commits_total", "Group commits (one write each).", nil, lb)
	syncs := m.desc("fsyncs_total", "fsync calls on segments.", nil, lb)
	bytes := m.desc("written_bytes_total", "Bytes written to segments.", nil, lb)
	head := m.desc("head_position", "Global position of the last event.", nil, lb)
	segs := m.desc("segments", "Segment files.", nil, lb)
	return &collector{
		descs: []*prometheus.Desc{appends, events, commits, syncs, bytes, head, segs},
		collect: func(ch chan<- prometheus.Metric) {
			s := l.Stats()
			ch <- prometheus.MustNewConstMetric(appends, prometheus.CounterValue, float64(s.Appends))
			ch <- prometheus.MustNewConstMetric(events, prometheus.CounterValue, float64(s.Events))
			ch <- prometheus.MustNewConstMetric(commits, prometheus.CounterValue, float64(s.Commits))
			ch <- prometheus.MustNewConstMetric(syncs, prometheus.CounterValue, float64(s.Syncs))
			ch <- prometheus.MustNewConstMetric(bytes, prometheus.CounterValue, float64(s.Bytes))
			ch <- prometheus.MustNewConstMetric(head, prometheus.GaugeValue, float64(s.Head))
			ch <- prometheus.MustNewConstMetric(segs, prometheus.GaugeValue, float64(s.Segments))
		},
	}
}

// SubscriptionLag exports, per named subscriber, how many positions its
// stored checkpoint is behind the store's head.
func (m *Metrics) SubscriptionLag(store eventlog.Store, names ...string) prometheus.Collector {
	lag := m.desc("subscription_lag_positions", "Store head minus the subscriber's stored checkpoint.", []string{"subscription"}, nil)
	return &collector{
		descs: []*prometheus.Desc{lag},
		collect: func(ch chan<- prometheus.Metric) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			head, err := store.Head(ctx)
			if err != nil {
				return
			}
			for _, n := range names {
				cp, err := store.Checkpoint(ctx, n)
				if err != nil {
					continue
				}
				ch <- prometheus.MustNewConstMetric(lag, prometheus.GaugeValue, float64(max(0, head-cp)), n)
			}
		},
	}
}

// Relay exports an outbox relay's counters, labelled with relay="name".
func (m *Metrics) Relay(name string, r *outbox.Relay) prometheus.Collector {
	lb := prometheus.Labels{"relay": name}
	pub := m.desc("outbox_published_total", "Events published by the outbox relay.", nil, lb)
	fail := m.desc("outbox_publish_failures_total", "Failed publish attempts (retried).", nil, lb)
	return &collector{
		descs: []*prometheus.Desc{pub, fail},
		collect: func(ch chan<- prometheus.Metric) {
			s := r.Stats()
			ch <- prometheus.MustNewConstMetric(pub, prometheus.CounterValue, float64(s.Published))
			ch <- prometheus.MustNewConstMetric(fail, prometheus.CounterValue, float64(s.Failures))
		},
	}
}

// Replicator exports a replicator's counters and lag, labelled with
// source="name".
func (m *Metrics) Replicator(r *replication.Replicator) prometheus.Collector {
	lb := prometheus.Labels{"source": r.Source}
	applied := m.desc("replication_applied_total", "Source events applied to the replica.", nil, lb)
	conflicts := m.desc("replication_conflicts_total", "Conflicts met (both sides wrote a stream).", nil, lb)
	skipped := m.desc("replication_skipped_total", "Repeated source events skipped.", nil, lb)
	lagEv := m.desc("replication_lag_positions", "Source head minus the last applied source position.", nil, lb)
	lagT := m.desc("replication_lag_seconds", "Age of the last applied event when it was applied.", nil, lb)
	return &collector{
		descs: []*prometheus.Desc{applied, conflicts, skipped, lagEv, lagT},
		collect: func(ch chan<- prometheus.Metric) {
			s := r.Stats()
			ch <- prometheus.MustNewConstMetric(applied, prometheus.CounterValue, float64(s.Applied))
			ch <- prometheus.MustNewConstMetric(conflicts, prometheus.CounterValue, float64(s.Conflicts))
			ch <- prometheus.MustNewConstMetric(skipped, prometheus.CounterValue, float64(s.Skipped))
			ch <- prometheus.MustNewConstMetric(lagEv, prometheus.GaugeValue, float64(s.LagEvents))
			ch <- prometheus.MustNewConstMetric(lagT, prometheus.GaugeValue, s.LagTime.Seconds())
		},
	}
}
