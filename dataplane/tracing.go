package dataplane

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracing is meshd's OpenTelemetry side: a span for every inbound request
// (a child of the caller's traceparent) and one for every upstream try,
// whose context goes upstream in traceparent. It is off until the config
// names an OTLP endpoint.
type tracing struct {
	mu       sync.Mutex
	key      string
	provider *sdktrace.TracerProvider
	tracer   atomic.Pointer[trace.Tracer]
	exported prometheus.Counter
	failed   prometheus.Counter
}

var propagator = propagation.TraceContext{}

// countingExporter counts what reached the collector and what did not, so
// a collector outage shows on /metrics (the batcher drops, never blocks).
type countingExporter struct {
	sdktrace.SpanExporter
	t *tracing
}

func (c countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		c.t.failed.Add(float64(len(spans)))
	} else {
		c.t.exported.Add(float64(len(spans)))
	}
	return err
}

func (t *tracing) commit(ctx context.Context, c *conf.Tracing) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := jsonKey(c)
	if key == t.key {
		return nil
	}
	var next *sdktrace.TracerProvider
	if c != nil {
		var exp sdktrace.SpanExporter
		var err error
		if c.Protocol == "http" {
			exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(c.OTLPEndpoint), otlptracehttp.WithInsecure())
		} else {
			exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(c.OTLPEndpoint), otlptracegrpc.WithInsecure())
		}
		if err != nil {
			return err
		}
		ratio := 1.0
		if c.SamplingRatio != nil {
			ratio = *c.SamplingRatio
		}
		name := c.ServiceName
		if name == "" {
			name = "meshd"
		}
		q := c.QueueSize
		if q == 0 {
			q = 2048
		}
		next = sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(countingExporter{exp, t}, sdktrace.WithMaxQueueSize(q), sdktrace.WithBatchTimeout(200*time.Millisecond)),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
		)
		tr := next.Tracer("github.com/wasmesh/wasmesh/dataplane")
		t.tracer.Store(&tr)
	} else {
		t.tracer.Store(nil)
	}
	old := t.provider
	t.provider, t.key = next, key
	if old != nil {
		go func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = old.Shutdown(sctx)
		}()
	}
	return nil
}

func (t *tracing) get() trace.Tracer {
	if p := t.tracer.Load(); p != nil {
		return *p
	}
	return nil
}

// live returns a tracer that starts each span with the tracer of the
// config in force (a no-op one while tracing is off). Subscriptions hold
// it for their lifetime, so they follow tracing being turned on, off or
// pointed elsewhere by a reload, and do not depend on being started after
// the tracing part of the same Apply.
func (t *tracing) live() trace.Tracer { return liveTracer{t: t} }

type liveTracer struct {
	embedded.Tracer
	t *tracing
}

var noopTracer = noop.NewTracerProvider().Tracer("")

func (l liveTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if tr := l.t.get(); tr != nil {
		return tr.Start(ctx, name, opts...)
	}
	return noopTracer.Start(ctx, name, opts...)
}

func (t *tracing) close(ctx context.Context) {
	t.mu.Lock()
	p := t.provider
	t.provider = nil
	t.tracer.Store(nil)
	t.mu.Unlock()
	if p != nil {
		_ = p.Shutdown(ctx)
	}
}

// fastCarrier reads and writes trace context on a fasthttp request.
type fastCarrier struct{ h *fasthttp.RequestHeader }

func (c fastCarrier) Get(k string) string { return string(c.h.Peek(k)) }
func (c fastCarrier) Set(k, v string)     { c.h.Set(k, v) }
func (c fastCarrier) Keys() []string      { return []string{"traceparent", "tracestate"} }

// startServerSpan begins the span of an inbound request.
func startServerSpan(tr trace.Tracer, carrier propagation.TextMapCarrier, listener, route, method, path string) (context.Context, trace.Span) {
	ctx := propagator.Extract(context.Background(), carrier)
	return tr.Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("url.path", path),
			attribute.String("http.route", route), attribute.String("meshd.listener", listener)))
}

func endSpan(span trace.Span, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// tryTracer makes a client span per upstream try and puts its context in
// the request that goes upstream.
type tryTracer struct {
	tr      trace.Tracer
	parent  context.Context
	cluster string
}

// within returns ctx carrying the request's server span, so work meshd does
// for the request itself (an event append or read) is traced as the
// span's child. With tracing off (nil t) ctx is returned as it is.
func (t *tryTracer) within(ctx context.Context) context.Context {
	if t == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, trace.SpanFromContext(t.parent))
}

func (t *tryTracer) start(addr string, attempt int, carrier propagation.TextMapCarrier) trace.Span {
	if t == nil || t.tr == nil {
		return nil
	}
	ctx, span := t.tr.Start(t.parent, "upstream "+t.cluster, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("server.address", addr), attribute.Int("meshd.attempt", attempt), attribute.String("meshd.cluster", t.cluster)))
	propagator.Inject(ctx, carrier)
	return span
}

func (t *tryTracer) end(span trace.Span, status int, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}
