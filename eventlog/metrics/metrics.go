package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/outbox"
	"github.com/wasmesh/wasmesh/eventlog/replication"
)

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

func desc(name, help string, labels prometheus.Labels) *prometheus.Desc {
	return prometheus.NewDesc("wasmesh_eventlog_"+name, help, nil, labels)
}

// FileLog exports a file log's counters, labelled with log="name".
func FileLog(name string, l *filelog.Log) prometheus.Collector {
	lb := prometheus.Labels{"log": name}
	appends := desc("appends_total", "Appends acknowledged since open.", lb)
	events := desc("events_total", "Events appended since open.", lb)
	commits := desc("group_commits_total", "Group commits (one write each).", lb)
	syncs := desc("fsyncs_total", "fsync calls on segments.", lb)
	bytes := desc("written_bytes_total", "Bytes written to segments.", lb)
	head := desc("head_position", "Global position of the last event.", lb)
	segs := desc("segments", "Segment files.", lb)
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
func SubscriptionLag(store eventlog.Store, names ...string) prometheus.Collector {
	lag := prometheus.NewDesc("wasmesh_eventlog_subscription_lag_positions",
		"Store head minus the subscriber's stored checkpoint.", []string{"subscription"}, nil)
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
func Relay(name string, r *outbox.Relay) prometheus.Collector {
	lb := prometheus.Labels{"relay": name}
	pub := desc("outbox_published_total", "Events published by the outbox relay.", lb)
	fail := desc("outbox_publish_failures_total", "Failed publish attempts (retried).", lb)
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
func Replicator(r *replication.Replicator) prometheus.Collector {
	lb := prometheus.Labels{"source": r.Source}
	applied := desc("replication_applied_total", "Source events applied to the replica.", lb)
	conflicts := desc("replication_conflicts_total", "Conflicts met (both sides wrote a stream).", lb)
	skipped := desc("replication_skipped_total", "Repeated source events skipped.", lb)
	lagEv := desc("replication_lag_positions", "Source head minus the last applied source position.", lb)
	lagT := desc("replication_lag_seconds", "Age of the last applied event when it was applied.", lb)
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
