package brokers_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/memory"
	"github.com/wasmesh/wasmesh/brokers/middleware"
)

func TestServeSettlesFromHandlerResult(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	metrics := brokers.NewMetrics("test")
	set, err := brokers.OpenAll(ctx, []brokers.Config{{Name: "mem", Type: "memory", Options: json.RawMessage(`{"prefetch":4}`)}},
		brokers.Env{Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = set.Close(context.Background()) }()
	b, ok := set.Get("mem")
	if !ok {
		t.Fatal("broker not in set")
	}
	if errs := set.Health(ctx); len(errs) != 0 {
		t.Fatalf("health: %v", errs)
	}

	ok1, transient, perm := brokers.NewMessage([]byte("ok")), brokers.NewMessage([]byte("transient")), brokers.NewMessage([]byte("perm"))
	if err := b.Publish(ctx, "t", ok1, transient, perm); err != nil {
		t.Fatal(err)
	}
	attempts := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = brokers.Serve(ctx, b, "t", brokers.SubscribeOptions{}, func(_ context.Context, d *brokers.Delivery) error {
			attempts[string(d.Message.Payload)] = d.Attempt
			switch string(d.Message.Payload) {
			case "transient":
				if d.Attempt < 2 {
					return errors.New("try again")
				}
			case "perm":
				return brokers.Permanent(errors.New("never"))
			}
			return nil
		}, brokers.ServeOptions{})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for gather(t, metrics)[settled("mem", "t", brokers.OpAck)] < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if attempts["ok"] != 1 || attempts["transient"] != 2 || attempts["perm"] != 1 {
		t.Fatalf("attempts %v", attempts)
	}
	if n := b.(*memory.Broker).Pending("t", ""); n != 0 {
		t.Fatalf("a permanently failed message was requeued (%d pending)", n)
	}
	lbl := `broker="mem",messaging_destination_name="t",messaging_system="memory"`
	want := map[string]float64{
		settled("mem", "t", brokers.OpAck):                                             2,
		settled("mem", "t", brokers.OpNack):                                            2,
		"test_messaging_client_consumed_messages_total{" + lbl + "}":                   4,
		"test_messaging_process_duration_seconds_count{" + lbl + `,outcome="success"}`: 2,
		"test_messaging_process_duration_seconds_count{" + lbl + `,outcome="error"}`:   2,
		"test_messaging_client_sent_messages_total{" + lbl + `,outcome="success"}`:     3,
		`test_messaging_client_operation_duration_seconds_count{broker="mem",messaging_destination_name="t",messaging_operation_name="publish",messaging_system="memory",outcome="success"}`: 1,
		`test_messaging_broker_connected{broker="mem",messaging_system="memory"}`:                                                                                                            1,
	}
	got := gather(t, metrics)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if err := set.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Get("mem"); ok {
		t.Fatal("closed set still returns brokers")
	}
}

func settled(broker, topic, op string) string {
	return `test_messaging_client_settled_messages_total{broker="` + broker + `",messaging_destination_name="` + topic +
		`",messaging_operation_name="` + op + `",messaging_system="memory"}`
}

// gather scrapes m and returns every series as name{labels sorted} →
// value; a histogram gives its _count.
func gather(t *testing.T, m *brokers.Metrics) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			var ls []string
			for _, lp := range mm.GetLabel() {
				ls = append(ls, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			sort.Strings(ls)
			key := "{" + strings.Join(ls, ",") + "}"
			switch {
			case mm.GetHistogram() != nil:
				out[mf.GetName()+"_count"+key] = float64(mm.GetHistogram().GetSampleCount())
			case mm.GetCounter() != nil:
				out[mf.GetName()+key] = mm.GetCounter().GetValue()
			case mm.GetGauge() != nil:
				out[mf.GetName()+key] = mm.GetGauge().GetValue()
			}
		}
	}
	return out
}

// A delivery the DeadLetter middleware moves to the dead-letter topic is
// settled once, as dead_letter (not also as ack), and its processing
// counts as failed.
func TestDeadLetterSettlementMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	metrics := brokers.NewMetrics("test")
	b := memory.New(memory.Options{Name: "mem", Metrics: metrics})
	defer b.Close(context.Background())
	if err := b.Publish(ctx, "t", brokers.NewMessage([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	h := brokers.Chain(middleware.DeadLetter(b, "t.dlq", middleware.DeadLetterOptions{MaxAttempts: 1}))(
		func(context.Context, *brokers.Delivery) error { return errors.New("no") })
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = brokers.Serve(ctx, b, "t", brokers.SubscribeOptions{}, h, brokers.ServeOptions{})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for gather(t, metrics)[settled("mem", "t", brokers.OpDeadLetter)] < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	got := gather(t, metrics)
	lbl := `broker="mem",messaging_destination_name="t",messaging_system="memory"`
	for k, v := range map[string]float64{
		settled("mem", "t", brokers.OpDeadLetter):                                    1,
		settled("mem", "t", brokers.OpAck):                                           0,
		settled("mem", "t", brokers.OpNack):                                          0,
		"test_messaging_process_duration_seconds_count{" + lbl + `,outcome="error"}`: 1,
		`test_messaging_client_sent_messages_total{broker="mem",messaging_destination_name="t.dlq",messaging_system="memory",outcome="success"}`: 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// A failed publish counts its messages and its duration as errors.
func TestPublishFailureMetrics(t *testing.T) {
	metrics := brokers.NewMetrics("test")
	b := memory.New(memory.Options{Name: "mem", Metrics: metrics})
	defer b.Close(context.Background())
	b.FailPublishes(1, nil)
	if err := b.Publish(context.Background(), "t", brokers.NewMessage(nil), brokers.NewMessage(nil)); err == nil {
		t.Fatal("injected failure did not fail the publish")
	}
	got := gather(t, metrics)
	lbl := `broker="mem",messaging_destination_name="t",messaging_system="memory"`
	for k, v := range map[string]float64{
		"test_messaging_client_sent_messages_total{" + lbl + `,outcome="error"}`:                                                                                                           2,
		"test_messaging_client_sent_messages_total{" + lbl + `,outcome="success"}`:                                                                                                         0,
		`test_messaging_client_operation_duration_seconds_count{broker="mem",messaging_destination_name="t",messaging_operation_name="publish",messaging_system="memory",outcome="error"}`: 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// A nil *Metrics, and the nil *Recorder it gives, record nothing and do
// not panic: adapters call them unconditionally.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *brokers.Metrics
	r := m.For("b", brokers.SystemMemory)
	if r.Enabled() {
		t.Fatal("nil metrics gave an enabled recorder")
	}
	r.Published("t", 1, time.Now(), nil)
	r.SetLag("t", "g", 0, 1)
	r.SetConnected(true)
	d := r.NewDelivery("t", brokers.NewMessage(nil), 1, nopAck{})
	r.Consumed(d)
	d.MarkDeadLettered()
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type nopAck struct{}

func (nopAck) Ack(context.Context) error        { return nil }
func (nopAck) Nack(context.Context, bool) error { return nil }

func TestOpenAllRejectsDuplicatesAndBadOptions(t *testing.T) {
	ctx := context.Background()
	_, err := brokers.OpenAll(ctx, []brokers.Config{{Name: "a", Type: "memory"}, {Name: "a", Type: "memory"}}, brokers.Env{})
	if !errors.Is(err, brokers.ErrBadInput) {
		t.Fatalf("duplicate names: %v", err)
	}
	_, err = brokers.OpenAll(ctx, []brokers.Config{{Name: "a", Type: "memory", Options: json.RawMessage(`{"prefech":1}`)}}, brokers.Env{})
	if !errors.Is(err, brokers.ErrBadInput) {
		t.Fatalf("typo in options: %v", err)
	}
}
