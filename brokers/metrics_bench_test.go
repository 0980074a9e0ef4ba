package brokers_test

import (
	"context"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

// BenchmarkRecorder is the metrics cost of one publish and one delivery
// (made, handed over, acked) on the hot path, with the series of the
// destination cached by the Recorder.
func BenchmarkRecorder(b *testing.B) {
	r := brokers.NewMetrics("bench").For("mem", brokers.SystemMemory)
	msg := brokers.NewMessage(nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.Published("orders", 1, time.Now(), nil)
		d := r.NewDelivery("orders", msg, 1, nopAck{})
		r.Consumed(d)
		_ = d.Ack(ctx)
	}
}
