package instrument_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/instrument"
	"github.com/wasmesh/wasmesh/eventlog/memstore"
	"github.com/wasmesh/wasmesh/eventlog/metrics"
	"github.com/wasmesh/wasmesh/eventlog/storetest"
)

// backends are the stores the wrapper is tested over.
var backends = []struct {
	name string
	open func(t *testing.T) eventlog.Store
}{
	{"memstore", func(t *testing.T) eventlog.Store { return memstore.Open(memstore.NewData()) }},
	{"filelog", func(t *testing.T) eventlog.Store {
		l, err := filelog.Open(t.TempDir(), filelog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}},
}

// tracer returns a provider that records every ended span.
func tracer(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// TestConformanceWrapped runs the store suite through the wrapper, traced
// and measured, so wrapping changes no behaviour.
func TestConformanceWrapped(t *testing.T) {
	tp, _ := tracer(t)
	m := metrics.New("")
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		d := memstore.NewData()
		return func(t *testing.T) eventlog.Store {
			return instrument.Wrap(memstore.Open(d), instrument.Options{TracerProvider: tp, Metrics: m})
		}
	})
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, a := range s.Attributes() {
		m[a.Key] = a.Value
	}
	return m
}

func ended(t *testing.T, rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	t.Helper()
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// TestAppendSpans appends under a parent span, then conflicts, and checks
// the spans' parent, kind, attributes and status, and the histogram.
func TestAppendSpans(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			tp, rec := tracer(t)
			m := metrics.New("")
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(m)
			// No TracerProvider: the wrapper follows the caller's span.
			st := instrument.Wrap(b.open(t), instrument.Options{Name: "main", Metrics: m})
			t.Cleanup(func() { _ = st.Close() })

			ctx, parent := tp.Tracer("test").Start(context.Background(), "POST /orders")
			if _, err := st.Append(ctx, "order-1", eventlog.NoStream, eventlog.NewEvent("Placed", nil), eventlog.NewEvent("Paid", nil)); err != nil {
				t.Fatal(err)
			}
			_, err := st.Append(ctx, "order-1", eventlog.NoStream, eventlog.NewEvent("Shipped", nil))
			if !errors.Is(err, eventlog.ErrConcurrency) {
				t.Fatalf("second append: %v, want a version conflict", err)
			}
			parent.End()

			spans := ended(t, rec, "append order")
			if len(spans) != 2 {
				t.Fatalf("%d append spans, want 2: %v", len(spans), rec.Ended())
			}
			for _, s := range spans {
				if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
					t.Errorf("append span's parent is %s, want the caller's span %s", s.Parent().SpanID(), parent.SpanContext().SpanID())
				}
				if s.SpanKind() != trace.SpanKindInternal {
					t.Errorf("kind %s", s.SpanKind())
				}
			}
			for _, c := range []struct {
				span   sdktrace.ReadOnlySpan
				want   map[attribute.Key]attribute.Value
				status codes.Code
			}{
				{spans[0], map[attribute.Key]attribute.Value{
					"eventlog.name": attribute.StringValue("main"), "eventlog.stream": attribute.StringValue("order-1"),
					"eventlog.event_count": attribute.IntValue(2), "eventlog.expected_version": attribute.StringValue("no-stream"),
					"eventlog.stream.version": attribute.Int64Value(2), "eventlog.position": attribute.Int64Value(2),
				}, codes.Unset},
				{spans[1], map[attribute.Key]attribute.Value{
					"eventlog.stream": attribute.StringValue("order-1"), "eventlog.event_count": attribute.IntValue(1),
					"eventlog.expected_version": attribute.StringValue("no-stream"),
					// On a conflict the version is the stream's real one.
					"eventlog.stream.version": attribute.Int64Value(2), "error.type": attribute.StringValue("version_conflict"),
				}, codes.Error},
			} {
				got := attrs(c.span)
				for k, v := range c.want {
					if got[k] != v {
						t.Errorf("%s: %s = %q, want %q", c.span.Status().Code, k, got[k].Emit(), v.Emit())
					}
				}
				if c.status != c.span.Status().Code {
					t.Errorf("status %v, want %v", c.span.Status(), c.status)
				}
			}
			if _, ok := attrs(spans[1])["eventlog.position"]; ok {
				t.Error("a failed append reports a position")
			}
			if ev := spans[1].Events(); len(ev) != 1 || ev[0].Name != "exception" {
				t.Errorf("the conflict is not recorded as an exception event: %v", ev)
			}

			if c := sampleCount(t, reg, "main", "success"); c != 1 {
				t.Errorf("success appends counted %d, want 1", c)
			}
			if c := sampleCount(t, reg, "main", "error"); c != 1 {
				t.Errorf("failed appends counted %d, want 1", c)
			}
		})
	}
}

// sampleCount is the number of appends the histogram counted for log and
// outcome.
func sampleCount(t *testing.T, reg *prometheus.Registry, log, outcome string) uint64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "wasmesh_eventlog_append_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["log"] == log && l["outcome"] == outcome {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// TestReadSpans checks reads get spans under the caller's, with what they
// returned.
func TestReadSpans(t *testing.T) {
	tp, rec := tracer(t)
	st := instrument.Wrap(memstore.Open(memstore.NewData()), instrument.Options{TracerProvider: tp})
	ctx := context.Background()
	if _, err := st.Append(ctx, "order-7", eventlog.Any, eventlog.NewEvent("A", nil), eventlog.NewEvent("B", nil), eventlog.NewEvent("C", nil)); err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(ctx, "GET /orders")
	if _, err := st.ReadStream(ctx, "order-7", eventlog.StreamEnd, eventlog.Backward, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadAll(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	parent.End()
	for _, c := range []struct {
		name string
		want map[attribute.Key]attribute.Value
	}{
		{"read order", map[attribute.Key]attribute.Value{"eventlog.stream": attribute.StringValue("order-7"),
			"eventlog.direction": attribute.StringValue("backward"), "eventlog.limit": attribute.IntValue(2), "eventlog.event_count": attribute.IntValue(2)}},
		{"read $all", map[attribute.Key]attribute.Value{"eventlog.from": attribute.Int64Value(1),
			"eventlog.limit": attribute.IntValue(10), "eventlog.event_count": attribute.IntValue(3)}},
	} {
		spans := ended(t, rec, c.name)
		if len(spans) != 1 {
			t.Fatalf("%d %q spans, want 1", len(spans), c.name)
		}
		if spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: not a child of the caller's span", c.name)
		}
		got := attrs(spans[0])
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", c.name, k, got[k].Emit(), v.Emit())
			}
		}
	}
}

// TestUntracedCallerMakesNoSpan: with no provider given and no span in
// the context, the wrapper uses the global provider (a no-op here) and
// still stores and measures.
func TestUntracedCallerMakesNoSpan(t *testing.T) {
	m := metrics.New("meshd")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	inner := memstore.Open(memstore.NewData())
	st := instrument.Wrap(inner, instrument.Options{Metrics: m})
	if st.Unwrap() != inner {
		t.Fatal("Unwrap does not return the wrapped store")
	}
	ctx := context.Background()
	if trace.SpanFromContext(ctx).IsRecording() {
		t.Fatal("background context has a recording span")
	}
	res, err := st.Append(ctx, "cart-1", eventlog.Any, eventlog.NewEvent("Added", nil))
	if err != nil || res.LastPosition != 1 {
		t.Fatalf("append: %+v %v", res, err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || fams[0].GetName() != "meshd_eventlog_append_duration_seconds" ||
		fams[0].GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
		t.Fatalf("want one meshd_eventlog_append_duration_seconds sample, got %v", fams)
	}
	for _, l := range fams[0].GetMetric()[0].GetLabel() {
		if want := map[string]string{"log": "default", "outcome": "success"}[l.GetName()]; l.GetValue() != want {
			t.Errorf("label %s=%q, want %q", l.GetName(), l.GetValue(), want)
		}
	}
}
