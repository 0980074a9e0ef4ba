package metrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/metrics"
	"github.com/wasmesh/wasmesh/eventlog/replication"
)

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
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.FileLog("main", l), metrics.SubscriptionLag(l, "proj"),
		metrics.Replicator(&replication.Replicator{Source: "eu", Target: l}))
	want := `
# HELP wasmesh_eventlog_appends_total Appends acknowledged since open.
# TYPE wasmesh_eventlog_appends_total counter
wasmesh_eventlog_appends_total{log="main"} 3
# HELP wasmesh_eventlog_events_total Events appended since open.
# TYPE wasmesh_eventlog_events_total counter
wasmesh_eventlog_events_total{log="main"} 6
# HELP wasmesh_eventlog_head_position Global position of the last event.
# TYPE wasmesh_eventlog_head_position gauge
wasmesh_eventlog_head_position{log="main"} 6
# HELP wasmesh_eventlog_subscription_lag_positions Store head minus the subscriber's stored checkpoint.
# TYPE wasmesh_eventlog_subscription_lag_positions gauge
wasmesh_eventlog_subscription_lag_positions{subscription="proj"} 4
# HELP wasmesh_eventlog_replication_conflicts_total Conflicts met (both sides wrote a stream).
# TYPE wasmesh_eventlog_replication_conflicts_total counter
wasmesh_eventlog_replication_conflicts_total{source="eu"} 0
`
	err = testutil.GatherAndCompare(reg, strings.NewReader(want),
		"wasmesh_eventlog_appends_total", "wasmesh_eventlog_events_total", "wasmesh_eventlog_head_position",
		"wasmesh_eventlog_subscription_lag_positions", "wasmesh_eventlog_replication_conflicts_total")
	if err != nil {
		t.Fatal(err)
	}
}
