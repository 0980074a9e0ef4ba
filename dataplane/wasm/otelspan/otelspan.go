package otelspan

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
)

// Name is the foreign function the tracing filter calls.
const Name = "wasmesh.export_span"

// Span is the guest's JSON.
type Span struct {
	TraceID      string            `json:"trace_id"`
	SpanID       string            `json:"span_id"`
	ParentSpanID string            `json:"parent_span_id"`
	Sampled      bool              `json:"sampled"`
	Name         string            `json:"name"`
	Kind         string            `json:"kind"`
	StartNanos   int64             `json:"start_unix_nano"`
	EndNanos     int64             `json:"end_unix_nano"`
	Attributes   map[string]string `json:"attributes"`
	Error        bool              `json:"error"`
}

// Exporter batches guest spans to a SpanExporter.
type Exporter struct {
	exp   sdktrace.SpanExporter
	res   *resource.Resource
	ch    chan sdktrace.ReadOnlySpan
	wg    sync.WaitGroup
	stop  chan struct{}
	once  sync.Once
	Batch int           // spans per export; default 256
	Every time.Duration // longest wait before an export; default 1s
}

// New starts an Exporter; res may be nil.
func New(exp sdktrace.SpanExporter, res *resource.Resource) *Exporter {
	e := &Exporter{exp: exp, res: res, ch: make(chan sdktrace.ReadOnlySpan, 4096), stop: make(chan struct{}), Batch: 256, Every: time.Second}
	e.wg.Add(1)
	go e.loop()
	return e
}

func (e *Exporter) loop() {
	defer e.wg.Done()
	t := time.NewTicker(e.Every)
	defer t.Stop()
	var batch []sdktrace.ReadOnlySpan
	flush := func() {
		if len(batch) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = e.exp.ExportSpans(ctx, batch)
			cancel()
			batch = nil
		}
	}
	for {
		select {
		case s := <-e.ch:
			batch = append(batch, s)
			if len(batch) >= e.Batch {
				flush()
			}
		case <-t.C:
			flush()
		case <-e.stop:
			for {
				select {
				case s := <-e.ch:
					batch = append(batch, s)
				default:
					flush()
					return
				}
			}
		}
	}
}

// Close exports what is queued and stops the batching goroutine; it does not
// shut the SpanExporter down (its owner does).
func (e *Exporter) Close(ctx context.Context) error {
	e.once.Do(func() { close(e.stop) })
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func ids(traceID, spanID string) (trace.TraceID, trace.SpanID, error) {
	var t trace.TraceID
	var s trace.SpanID
	tb, err1 := hex.DecodeString(traceID)
	sb, err2 := hex.DecodeString(spanID)
	if err1 != nil || err2 != nil || len(tb) != 16 || len(sb) != 8 {
		return t, s, fmt.Errorf("otelspan: bad ids %q/%q", traceID, spanID)
	}
	copy(t[:], tb)
	copy(s[:], sb)
	return t, s, nil
}

// Convert turns a guest span into an OpenTelemetry span.
func (e *Exporter) Convert(in Span) (sdktrace.ReadOnlySpan, error) {
	tid, sid, err := ids(in.TraceID, in.SpanID)
	if err != nil {
		return nil, err
	}
	flags := trace.TraceFlags(0)
	if in.Sampled {
		flags = trace.FlagsSampled
	}
	stub := tracetest.SpanStub{
		Name:                 in.Name,
		SpanContext:          trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags}),
		SpanKind:             trace.SpanKindServer,
		StartTime:            time.Unix(0, in.StartNanos),
		EndTime:              time.Unix(0, in.EndNanos),
		Resource:             e.res,
		InstrumentationScope: instrumentation.Scope{Name: "github.com/wasmesh/wasmesh/filters/tracing"},
	}
	if in.Kind == "client" {
		stub.SpanKind = trace.SpanKindClient
	}
	if in.ParentSpanID != "" {
		_, pid, err := ids(in.TraceID, in.ParentSpanID)
		if err != nil {
			return nil, err
		}
		stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: pid, TraceFlags: flags, Remote: true})
	}
	for k, v := range in.Attributes {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && k == "http.response.status_code" {
			stub.Attributes = append(stub.Attributes, attribute.Int64(k, n))
		} else {
			stub.Attributes = append(stub.Attributes, attribute.String(k, v))
		}
	}
	if in.Error {
		stub.Status = sdktrace.Status{Code: codes.Error}
	}
	return stub.Snapshot(), nil
}

// Func is the foreign function to register under Name. A full queue drops
// the span (tracing never slows requests down).
func (e *Exporter) Func() wasm.ForeignFunc {
	return func(ctx context.Context, args []byte) ([]byte, error) {
		var in Span
		if err := json.Unmarshal(args, &in); err != nil {
			return nil, fmt.Errorf("otelspan: %w", err)
		}
		s, err := e.Convert(in)
		if err != nil {
			return nil, err
		}
		select {
		case e.ch <- s:
		default:
		}
		return nil, nil
	}
}
