// Command tracing is a Proxy-Wasm filter that propagates W3C trace context
// and B3, makes x-request-id and a correlation id when missing (echoed on
// the response), and hands each span to the host, which exports it with
// OpenTelemetry. See README.md.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

func init() { sdk.SetNewPlugin(func(uint32) sdk.Plugin { return &plugin{} }) }

func main() {}

// exportFunc is the host foreign function that receives finished spans.
const exportFunc = "wasmesh.export_span"

type config struct {
	ServiceName       string  `json:"service_name"`
	CorrelationHeader string  `json:"correlation_header"`
	PropagateB3       *bool   `json:"propagate_b3"`
	SampleRate        float64 `json:"sample_rate"`
	Export            *bool   `json:"export"`
}

type plugin struct {
	cfg                config
	b3, export         bool
	spans, exportFails sdk.Metric
}

func (p *plugin) OnConfigure(b []byte) error {
	c := config{SampleRate: 1, CorrelationHeader: "x-correlation-id"}
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return fmt.Errorf("tracing config: %w", err)
		}
	}
	if c.SampleRate < 0 || c.SampleRate > 1 {
		return errors.New("tracing config: sample_rate must be within [0, 1]")
	}
	if c.ServiceName == "" {
		c.ServiceName = "meshd"
	}
	p.cfg = c
	p.b3 = c.PropagateB3 == nil || *c.PropagateB3
	p.export = c.Export == nil || *c.Export
	p.spans = sdk.DefineCounter("tracing.spans")
	p.exportFails = sdk.DefineCounter("tracing.export_errors")
	return nil
}

func (p *plugin) NewHTTPFilter(uint32) sdk.HTTPFilter { return &filter{p: p} }

type filter struct {
	sdk.DefaultHTTPFilter
	p                  *plugin
	span               spanContext
	parent             string
	requestID, corrID  string
	start              int64
	method, path, host string
	status             int
	started            bool
}

func (f *filter) OnRequestHeaders(int, bool) sdk.Action {
	p := f.p
	f.start = sdk.Now().UnixNano()
	f.started = true
	in, ok := spanContext{}, false
	if v, has := sdk.RequestHeader("traceparent"); has {
		in, ok = parseTraceparent(v)
	}
	if !ok {
		if v, has := sdk.RequestHeader("b3"); has {
			in, ok = parseB3Single(v)
		}
	}
	if !ok {
		in, ok = parseB3Multi(sdk.RequestHeader)
	}
	if ok {
		f.parent = in.spanID
		f.span = spanContext{traceID: in.traceID, spanID: randomHex(8), sampled: in.sampled}
	} else {
		sdk.RemoveRequestHeader("tracestate") // meaningless without a parent
		f.span = spanContext{traceID: randomHex(16), spanID: randomHex(8), sampled: sample(p.cfg.SampleRate)}
	}
	sdk.SetRequestHeader("traceparent", f.span.traceparent())
	if p.b3 {
		sampled := "0"
		if f.span.sampled {
			sampled = "1"
		}
		sdk.SetRequestHeader("x-b3-traceid", f.span.traceID)
		sdk.SetRequestHeader("x-b3-spanid", f.span.spanID)
		sdk.SetRequestHeader("x-b3-sampled", sampled)
		if f.parent != "" {
			sdk.SetRequestHeader("x-b3-parentspanid", f.parent)
		} else {
			sdk.RemoveRequestHeader("x-b3-parentspanid")
		}
		sdk.RemoveRequestHeader("x-b3-flags")
		if _, has := sdk.RequestHeader("b3"); has {
			sdk.SetRequestHeader("b3", f.span.traceID+"-"+f.span.spanID+"-"+sampled)
		}
	}
	var has bool
	if f.requestID, has = sdk.RequestHeader("x-request-id"); !has || f.requestID == "" {
		f.requestID = uuid4()
		sdk.SetRequestHeader("x-request-id", f.requestID)
	}
	ch := p.cfg.CorrelationHeader
	if f.corrID, has = sdk.RequestHeader(ch); !has || f.corrID == "" {
		f.corrID = f.requestID
		sdk.SetRequestHeader(ch, f.corrID)
	}
	f.method, _ = sdk.RequestHeader(":method")
	f.path, _ = sdk.RequestHeader(":path")
	f.host, _ = sdk.RequestHeader(":authority")
	return sdk.Continue
}

func sample(rate float64) bool {
	if rate >= 1 {
		return true
	}
	if rate <= 0 {
		return false
	}
	v, _ := strconv.ParseUint(randomHex(7), 16, 64)
	return float64(v)/float64(1<<56) < rate
}

func (f *filter) OnResponseHeaders(int, bool) sdk.Action {
	if !f.started {
		return sdk.Continue
	}
	if s, ok := sdk.ResponseHeader(":status"); ok {
		f.status, _ = strconv.Atoi(s)
	}
	sdk.SetResponseHeader("x-request-id", f.requestID)
	sdk.SetResponseHeader(f.p.cfg.CorrelationHeader, f.corrID)
	return sdk.Continue
}

// span is what the host's wasmesh.export_span receives.
type span struct {
	TraceID      string            `json:"trace_id"`
	SpanID       string            `json:"span_id"`
	ParentSpanID string            `json:"parent_span_id,omitempty"`
	Sampled      bool              `json:"sampled"`
	Name         string            `json:"name"`
	Kind         string            `json:"kind"`
	StartNanos   int64             `json:"start_unix_nano"`
	EndNanos     int64             `json:"end_unix_nano"`
	Attributes   map[string]string `json:"attributes"`
	Error        bool              `json:"error"`
}

func (f *filter) OnDone() {
	p := f.p
	if !f.started || !f.span.sampled || !p.export {
		return
	}
	s := span{
		TraceID: f.span.traceID, SpanID: f.span.spanID, ParentSpanID: f.parent, Sampled: true,
		Name: f.method + " " + routeOrPath(f.path), Kind: "server",
		StartNanos: f.start, EndNanos: sdk.Now().UnixNano(),
		Attributes: map[string]string{
			"http.request.method": f.method, "url.path": f.path, "server.address": f.host,
			"http.response.status_code": strconv.Itoa(f.status), "service.name": p.cfg.ServiceName,
			"request.id": f.requestID, "correlation.id": f.corrID,
		},
		Error: f.status >= 500 || f.status == 0,
	}
	b, _ := json.Marshal(s)
	if _, err := sdk.CallForeignFunction(exportFunc, b); err != nil {
		p.exportFails.Increment(1)
		return
	}
	p.spans.Increment(1)
}

func routeOrPath(path string) string {
	if r, err := sdk.Property("route_name"); err == nil && len(r) > 0 {
		return string(r)
	}
	for i := 0; i < len(path); i++ {
		if path[i] == '?' {
			return path[:i]
		}
	}
	return path
}
