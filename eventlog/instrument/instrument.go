package instrument

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/metrics"
)

// ScopeName is the instrumentation scope of the spans, so a trace backend
// can tell the event log's spans from the caller's.
const ScopeName = "github.com/wasmesh/wasmesh/eventlog/instrument"

// Span attributes. OpenTelemetry has no convention for event stores, so
// the names are ours, under "eventlog."; failures also carry the standard
// error.type.
const (
	attrLog        = attribute.Key("eventlog.name")
	attrStream     = attribute.Key("eventlog.stream")
	attrEventCount = attribute.Key("eventlog.event_count")
	attrExpected   = attribute.Key("eventlog.expected_version")
	attrVersion    = attribute.Key("eventlog.stream.version")
	attrPosition   = attribute.Key("eventlog.position")
	attrDirection  = attribute.Key("eventlog.direction")
	attrLimit      = attribute.Key("eventlog.limit")
	attrFrom       = attribute.Key("eventlog.from")
)

// Options say where the telemetry of a wrapped store goes.
type Options struct {
	// Name names the log: the "log" label of the append histogram and the
	// eventlog.name span attribute. Empty means "default".
	Name string
	// TracerProvider receives the spans. Nil means the provider of the
	// recording span in the caller's context, else the global one
	// (otel.GetTracerProvider()): a program that traces its requests gets
	// the store's spans under them without more setup, and an untraced
	// call costs no span.
	TracerProvider trace.TracerProvider
	// Metrics records every append's latency and outcome; nil records none.
	Metrics *metrics.Metrics
}

// Store is an eventlog.Store that traces and measures the store it wraps.
// Append, ReadStream and ReadAll get a span each; Subscribe (which lives
// as long as its subscriber), Head, checkpoints and snapshots pass through
// untraced.
type Store struct {
	eventlog.Store
	opts Options
}

var _ eventlog.Store = (*Store)(nil)

// Wrap returns st instrumented as opts say. Close closes st.
func Wrap(st eventlog.Store, opts Options) *Store {
	if opts.Name == "" {
		opts.Name = "default"
	}
	return &Store{Store: st, opts: opts}
}

// Unwrap returns the wrapped store, for backend-specific collectors (a
// file log's counters) that need its concrete type.
func (s *Store) Unwrap() eventlog.Store { return s.Store }

func (s *Store) start(ctx context.Context, name string) (context.Context, trace.Span) {
	tp := s.opts.TracerProvider
	if tp == nil {
		if parent := trace.SpanFromContext(ctx); parent.IsRecording() {
			tp = parent.TracerProvider()
		} else {
			tp = otel.GetTracerProvider()
		}
	}
	return tp.Tracer(ScopeName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal))
}

// Append appends through the wrapped store inside an "append <category>"
// span (the category keeps span names few where stream ids are many; the
// stream is an attribute) and records its latency.
func (s *Store) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, events ...eventlog.Event) (eventlog.AppendResult, error) {
	ctx, span := s.start(ctx, "append "+eventlog.Category(stream))
	begin := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events...)
	s.opts.Metrics.ObserveAppend(s.opts.Name, time.Since(begin), err)
	if span.IsRecording() {
		span.SetAttributes(attrLog.String(s.opts.Name), attrStream.String(stream),
			attrEventCount.Int(len(events)), attrExpected.String(expected.String()))
		var ce *eventlog.ConcurrencyError
		switch {
		case err == nil:
			span.SetAttributes(attrVersion.Int64(res.LastVersion), attrPosition.Int64(res.LastPosition))
		case errors.As(err, &ce):
			span.SetAttributes(attrVersion.Int64(ce.Actual))
		}
		fail(span, err)
	}
	span.End()
	return res, err
}

// ReadStream reads through the wrapped store inside a "read <category>"
// span.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, dir eventlog.Direction, limit int) ([]eventlog.Event, error) {
	ctx, span := s.start(ctx, "read "+eventlog.Category(stream))
	evs, err := s.Store.ReadStream(ctx, stream, from, dir, limit)
	if span.IsRecording() {
		d := "forward"
		if dir == eventlog.Backward {
			d = "backward"
		}
		span.SetAttributes(attrLog.String(s.opts.Name), attrStream.String(stream), attrFrom.Int64(from),
			attrDirection.String(d), attrLimit.Int(limit), attrEventCount.Int(len(evs)))
		fail(span, err)
	}
	span.End()
	return evs, err
}

// ReadAll reads the global order through the wrapped store inside a
// "read $all" span ($all is the HTTP API's name for the global order).
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]eventlog.Event, error) {
	ctx, span := s.start(ctx, "read $all")
	evs, err := s.Store.ReadAll(ctx, from, limit)
	if span.IsRecording() {
		span.SetAttributes(attrLog.String(s.opts.Name), attrFrom.Int64(from), attrLimit.Int(limit), attrEventCount.Int(len(evs)))
		fail(span, err)
	}
	span.End()
	return evs, err
}

// fail marks span failed with err's kind, when there is an error.
func fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

var errorTypes = []struct {
	target error
	name   string
}{
	{eventlog.ErrConcurrency, "version_conflict"},
	{eventlog.ErrDuplicateEvent, "duplicate_event"},
	{eventlog.ErrInvalid, "invalid"},
	{eventlog.ErrClosed, "closed"},
	{eventlog.ErrCorrupt, "corrupt"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "canceled"},
}

// errorType is error.type: low-cardinality names for the store's own
// errors, "_OTHER" for the rest (OpenTelemetry's fallback).
func errorType(err error) string {
	for _, k := range errorTypes {
		if errors.Is(err, k.target) {
			return k.name
		}
	}
	return semconv.ErrorTypeOther.Value.AsString()
}
