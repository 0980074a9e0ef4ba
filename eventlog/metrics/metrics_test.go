package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/metrics"
	"github.com/wasmesh/wasmesh/eventlog/replication"
)

// TestCollectors checks the collectors' values, and that every family
// carries the namespace it was given (the default one when none).
func TestCollectors(t *testing.T) {
	ctx := context.Background()
	l, err := filelog.Open(t.TempDir(), filelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 3; i++ {
		if _, err := l.Append(ctx, "m-1", eventlog.Any, eventlog.NewEvent("E", nil), eventlog.NewEvent("E", nil)); err != nil {
			t.Fatal(err)
		}
	}
	_ = l.SaveCheckpoint(ctx, "proj", 2)
	for _, c := range []struct{ namespace, prefix string }{
		{"", "wasmesh_eventlog_"},
		{"meshd", "meshd_eventlog_"},
	} {
		t.Run(c.prefix, func(t *testing.T) {
			m := metrics.New(c.namespace)
			m.ObserveAppend("main", 3*time.Millisecond, nil)
			m.ObserveAppend("main", time.Millisecond, &eventlog.ConcurrencyError{Stream: "m-1", Actual: 6})
			m.ObserveAppend("main", time.Millisecond, errors.New("disk full"))
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(m, m.FileLog("main", l), m.SubscriptionLag(l, "proj"),
				m.Replicator(&replication.Replicator{Source: "eu", Target: l}))
			want := strings.NewReplacer("P_", c.prefix).Replace(`
# HELP P_appends_total Appends acknowledged since open.
# TYPE P_appends_total counter
P_appends_total{log="main"} 3
# HELP P_events_total Events appended since open.
# TYPE P_events_total counter
P_events_total{log="main"} 6
# HELP P_head_position Global position of the last event.
# TYPE P_head_position gauge
P_head_position{log="main"} 6
# HELP P_subscription_lag_positions Store head minus the subscriber's stored checkpoint.
# TYPE P_subscription_lag_positions gauge
P_subscription_lag_positions{subscription="proj"} 4
# HELP P_replication_conflicts_total Conflicts met (both sides wrote a stream).
# TYPE P_replication_conflicts_total counter
P_replication_conflicts_total{source="eu"} 0
`)
			names := []string{"appends_total", "events_total", "head_position", "subscription_lag_positions", "replication_conflicts_total"}
			for i := range names {
				names[i] = c.prefix + names[i]
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
				t.Fatal(err)
			}
			fams, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]uint64{}
			for _, f := range fams {
				if !strings.HasPrefix(f.GetName(), c.prefix) {
					t.Errorf("family %s lacks the prefix %s", f.GetName(), c.prefix)
				}
				if f.GetName() != c.prefix+"append_duration_seconds" {
					continue
				}
				for _, s := range f.GetMetric() {
					for _, lp := range s.GetLabel() {
						if lp.GetName() == "outcome" {
							counts[lp.GetValue()] = s.GetHistogram().GetSampleCount()
						}
					}
					if n := len(s.GetHistogram().GetBucket()); n != 16 {
						t.Errorf("append histogram has %d buckets, want the shared 16", n)
					}
				}
			}
			// A conflict is an error like any failed append.
			if counts["success"] != 1 || counts["error"] != 2 {
				t.Errorf("append outcomes %v, want success 1, error 2", counts)
			}
		})
	}
}
