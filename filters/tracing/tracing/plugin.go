package tracing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

// New makes the filter's root context: the factory for sdk.SetNewPlugin.
func New(uint32) sdk.Plugin { return &plugin{} }

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

func (f *filter) OnDone() {
	p := f.p
	if !f.started || !f.span.sampled || !p.export {
		return
	}
	// Built by hand: encoding/json's reflection is slow in a Wasm guest.
	// The fields are those of otelspan.Span on the host.
	b := make([]byte, 0, 512)
	field := func(k string) { b = append(append(append(b, '"'), k...), '"', ':') }
	str := func(k, v string) { field(k); b = appendJSONString(b, v); b = append(b, ',') }
	b = append(b, '{')
	str("trace_id", f.span.traceID)
	str("span_id", f.span.spanID)
	if f.parent != "" {
		str("parent_span_id", f.parent)
	}
	str("name", f.method+" "+routeOrPath(f.path))
	str("kind", "server")
	field("sampled")
	b = append(b, "true,"...)
	field("start_unix_nano")
	b = append(strconv.AppendInt(b, f.start, 10), ',')
	field("end_unix_nano")
	b = append(strconv.AppendInt(b, sdk.Now().UnixNano(), 10), ',')
	field("error")
	b = append(strconv.AppendBool(b, f.status >= 500 || f.status == 0), ',')
	field("attributes")
	b = append(b, '{')
	attrs := [...][2]string{
		{"http.request.method", f.method}, {"url.path", f.path}, {"server.address", f.host},
		{"http.response.status_code", strconv.Itoa(f.status)}, {"service.name", p.cfg.ServiceName},
		{"request.id", f.requestID}, {"correlation.id", f.corrID},
	}
	for i, a := range attrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a[0])
		b = append(b, ':')
		b = appendJSONString(b, a[1])
	}
	b = append(b, '}', '}')
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

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
