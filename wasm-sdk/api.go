package sdk

import (
	"fmt"
	"math"
	"time"

	"github.com/wasmesh/wasmesh/wasm-sdk/internal/hostabi"
)

const (
	mapRequestHeaders          = 0
	mapRequestTrailers         = 1
	mapResponseHeaders         = 2
	mapResponseTrailers        = 3
	mapHTTPCallResponseHeaders = 6

	bufferRequestBody          = 0
	bufferResponseBody         = 1
	bufferHTTPCallResponseBody = 4
	bufferVMConfiguration      = 6
	bufferPluginConfiguration  = 7
)

func host() hostabi.Host {
	if hostabi.H == nil {
		panic(errNoHost)
	}
	return hostabi.H
}

func getHeaders(m uint32) ([][2]string, error) {
	h, st := host().GetHeaders(m)
	return h, statusErr(st)
}

func getBuffer(t, start, max uint32) ([]byte, error) {
	b, st := host().GetBuffer(t, start, max)
	return b, statusErr(st)
}

func header(m uint32, key string) (string, bool) {
	v, st := host().GetHeader(m, key)
	return v, st == hostabi.OK
}

// RequestHeader returns a request header (pseudo-headers :method, :path,
// :authority, :scheme included). Keys are lower case.
func RequestHeader(key string) (string, bool) { return header(mapRequestHeaders, key) }

// RequestHeaders returns every request header in order.
func RequestHeaders() ([][2]string, error) { return getHeaders(mapRequestHeaders) }

// SetRequestHeader replaces every value of key.
func SetRequestHeader(key, value string) error {
	return statusErr(host().ReplaceHeader(mapRequestHeaders, key, value))
}

// AddRequestHeader appends a value.
func AddRequestHeader(key, value string) error {
	return statusErr(host().AddHeader(mapRequestHeaders, key, value))
}

// RemoveRequestHeader deletes every value of key.
func RemoveRequestHeader(key string) error {
	return statusErr(host().RemoveHeader(mapRequestHeaders, key))
}

// SetRequestHeaders replaces the whole request header map.
func SetRequestHeaders(pairs [][2]string) error {
	return statusErr(host().SetHeaders(mapRequestHeaders, pairs))
}

// ResponseHeader returns a response header (:status included).
func ResponseHeader(key string) (string, bool) { return header(mapResponseHeaders, key) }

// ResponseHeaders returns every response header in order.
func ResponseHeaders() ([][2]string, error) { return getHeaders(mapResponseHeaders) }

// SetResponseHeader replaces every value of key.
func SetResponseHeader(key, value string) error {
	return statusErr(host().ReplaceHeader(mapResponseHeaders, key, value))
}

// AddResponseHeader appends a value.
func AddResponseHeader(key, value string) error {
	return statusErr(host().AddHeader(mapResponseHeaders, key, value))
}

// RemoveResponseHeader deletes every value of key.
func RemoveResponseHeader(key string) error {
	return statusErr(host().RemoveHeader(mapResponseHeaders, key))
}

// RequestTrailers returns the request trailers.
func RequestTrailers() ([][2]string, error) { return getHeaders(mapRequestTrailers) }

// ResponseTrailers returns the response trailers.
func ResponseTrailers() ([][2]string, error) { return getHeaders(mapResponseTrailers) }

// RequestBody returns the request body received so far (call it from
// OnRequestBody).
func RequestBody() ([]byte, error) { return getBuffer(bufferRequestBody, 0, math.MaxUint32) }

// ReplaceRequestBody replaces the request body.
func ReplaceRequestBody(b []byte) error {
	return statusErr(host().SetBuffer(bufferRequestBody, 0, math.MaxUint32, b))
}

// ResponseBody returns the response body received so far.
func ResponseBody() ([]byte, error) { return getBuffer(bufferResponseBody, 0, math.MaxUint32) }

// ReplaceResponseBody replaces the response body.
func ReplaceResponseBody(b []byte) error {
	return statusErr(host().SetBuffer(bufferResponseBody, 0, math.MaxUint32, b))
}

// SendLocalResponse answers the request from the filter; the upstream is not
// called. Return Pause from the callback afterwards (or nothing, from an
// http call callback).
func SendLocalResponse(status int, headers [][2]string, body []byte) error {
	return statusErr(host().SendLocalResponse(uint32(status), "wasm_filter", body, headers, -1))
}

// ResumeRequest continues a request the filter paused.
func ResumeRequest() error { return statusErr(host().ContinueStream(0)) }

// ResumeResponse continues a response the filter paused.
func ResumeResponse() error { return statusErr(host().ContinueStream(1)) }

// HTTPCall sends a request to a cluster the host knows; headers must include
// :method, :path and :authority. cb runs later with the response (in the
// context of the request that made the call); meanwhile the callback that
// made the call usually returns Pause.
func HTTPCall(cluster string, headers [][2]string, body []byte, timeout time.Duration, cb func(HTTPCallResponse)) error {
	token, st := host().HTTPCall(cluster, headers, body, nil, uint32(timeout/time.Millisecond))
	if st != hostabi.OK {
		return statusErr(st)
	}
	d.calls[token] = cb
	return nil
}

// SetTickPeriod asks for OnTick every d (0 stops it); call it from a
// Plugin (OnConfigure) that implements Ticker.
func SetTickPeriod(d time.Duration) error {
	return statusErr(host().SetTickPeriod(uint32(d / time.Millisecond)))
}

// SharedData returns a value shared by every VM of the plugin, and its cas
// token for SetSharedData.
func SharedData(key string) (value []byte, cas uint32, err error) {
	v, cas, st := host().GetSharedData(key)
	return v, cas, statusErr(st)
}

// SetSharedData stores a shared value. With a non-zero cas (from
// SharedData) it fails with ErrCasMismatch if another VM wrote in between:
// read again and retry. A cas of 0 writes unconditionally.
func SetSharedData(key string, value []byte, cas uint32) error {
	return statusErr(host().SetSharedData(key, value, cas))
}

// RegisterQueue creates a shared queue this plugin listens on.
func RegisterQueue(name string) (uint32, error) {
	q, st := host().RegisterQueue(name)
	return q, statusErr(st)
}

// ResolveQueue finds another plugin's queue by its vm id and name.
func ResolveQueue(vmID, name string) (uint32, error) {
	q, st := host().ResolveQueue(vmID, name)
	return q, statusErr(st)
}

// EnqueueSharedQueue appends data to a queue.
func EnqueueSharedQueue(queueID uint32, data []byte) error {
	return statusErr(host().Enqueue(queueID, data))
}

// DequeueSharedQueue pops the oldest item; ErrEmpty when there is none.
func DequeueSharedQueue(queueID uint32) ([]byte, error) {
	b, st := host().Dequeue(queueID)
	return b, statusErr(st)
}

// Property reads a host property, e.g. Property("request", "path"),
// Property("source", "address"), Property("connection",
// "uri_san_peer_certificate"), Property("route_name").
func Property(path ...string) ([]byte, error) {
	b, st := host().GetProperty(path)
	return b, statusErr(st)
}

// SetProperty stores a per-request property the host and later filters read.
func SetProperty(value []byte, path ...string) error {
	return statusErr(host().SetProperty(path, value))
}

// Metric is a host metric, shared by every VM, shown on the admin /metrics.
type Metric uint32

func defineMetric(kind uint32, name string) Metric {
	id, st := host().DefineMetric(kind, name)
	if st != hostabi.OK {
		Errorf("define metric %s: %v", name, statusErr(st))
	}
	return Metric(id)
}

// DefineCounter defines (or finds) a counter.
func DefineCounter(name string) Metric { return defineMetric(0, name) }

// DefineGauge defines (or finds) a gauge.
func DefineGauge(name string) Metric { return defineMetric(1, name) }

// DefineHistogram defines (or finds) a histogram.
func DefineHistogram(name string) Metric { return defineMetric(2, name) }

// Increment adds delta to a counter or gauge.
func (m Metric) Increment(delta int64) { host().IncrementMetric(uint32(m), delta) }

// Record sets a gauge or records a histogram sample.
func (m Metric) Record(v int64) { host().RecordMetric(uint32(m), v) }

// Value reads the metric (a histogram's sum).
func (m Metric) Value() int64 {
	v, _ := host().GetMetric(uint32(m))
	return v
}

// Log levels.
const (
	LevelTrace    = 0
	LevelDebug    = 1
	LevelInfo     = 2
	LevelWarn     = 3
	LevelError    = 4
	LevelCritical = 5
)

// Logf logs through the host (slog in Wasmesh, with the request id).
func Logf(level uint32, format string, args ...any) {
	host().Log(level, fmt.Sprintf(format, args...))
}

// Debugf logs at debug level.
func Debugf(format string, args ...any) { Logf(LevelDebug, format, args...) }

// Infof logs at info level.
func Infof(format string, args ...any) { Logf(LevelInfo, format, args...) }

// Warnf logs at warn level.
func Warnf(format string, args ...any) { Logf(LevelWarn, format, args...) }

// Errorf logs at error level.
func Errorf(format string, args ...any) { Logf(LevelError, format, args...) }

// Now is the host's clock.
func Now() time.Time { return time.Unix(0, host().CurrentTimeNanos()) }

// CallForeignFunction calls a function the host registered by name.
func CallForeignFunction(name string, args []byte) ([]byte, error) {
	b, st := host().CallForeignFunction(name, args)
	return b, statusErr(st)
}
