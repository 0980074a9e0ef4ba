package sdktest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
	"github.com/wasmesh/wasmesh/wasm-sdk/internal/hostabi"
)

// Options configure a Host.
type Options struct {
	// Config is the plugin configuration handed to OnConfigure.
	Config []byte
	// VMConfig is handed to OnVMStart.
	VMConfig []byte
	// PluginName answers the plugin_name property.
	PluginName string
	// ForeignFunctions are callable with sdk.CallForeignFunction.
	ForeignFunctions map[string]func(args []byte) ([]byte, error)
	// Now is the host clock; nil means time.Now.
	Now func() time.Time
}

// LocalResponse is what a filter sent with sdk.SendLocalResponse.
type LocalResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

// Header returns the first value of key.
func (l *LocalResponse) Header(key string) string { return get(l.Headers, key) }

// HTTPCall is a call a filter made; answer it with Host.RespondHTTPCall.
type HTTPCall struct {
	Token   uint32
	Cluster string
	Headers [][2]string
	Body    []byte
	Timeout time.Duration
	stream  *Stream
	ctxID   uint32
}

// Header returns the first value of key.
func (c *HTTPCall) Header(key string) string { return get(c.Headers, key) }

type metric struct {
	name  string
	kind  uint32
	value int64
}

// Host is the in-memory host. Build it with New.
type Host struct {
	opts     Options
	root     uint32
	streams  map[uint32]*Stream
	eff      *Stream
	effID    uint32
	cfgBuf   []byte
	callResp *callResp
	calls    []*HTTPCall
	token    uint32
	shared   map[string]*sharedEntry
	cas      uint32
	queues   map[string]uint32
	qdata    map[uint32][][]byte
	metrics  []*metric
	logs     []string
	tick     time.Duration
}

type sharedEntry struct {
	value []byte
	cas   uint32
}

type callResp struct {
	headers [][2]string
	body    []byte
}

var (
	mu     sync.Mutex
	nextID uint32
)

// New starts the filter: it creates its root context and runs OnVMStart and
// OnConfigure, returning an error if either refuses.
func New(opts Options) (*Host, error) {
	if hostabi.G == nil {
		return nil, errors.New("sdktest: the SDK is not linked in")
	}
	mu.Lock()
	nextID++
	root := nextID
	mu.Unlock()
	h := &Host{opts: opts, root: root, streams: map[uint32]*Stream{}, shared: map[string]*sharedEntry{},
		queues: map[string]uint32{}, qdata: map[uint32][][]byte{}}
	hostabi.H = h
	h.setRoot()
	hostabi.G.OnContextCreate(root, 0)
	h.cfgBuf = opts.VMConfig
	if !hostabi.G.OnVMStart(root, uint32(len(h.cfgBuf))) {
		return nil, fmt.Errorf("sdktest: OnVMStart refused: %s", h.lastLog())
	}
	h.cfgBuf = opts.Config
	ok := hostabi.G.OnConfigure(root, uint32(len(h.cfgBuf)))
	h.cfgBuf = nil
	if !ok {
		return nil, fmt.Errorf("sdktest: OnConfigure refused: %s", h.lastLog())
	}
	return h, nil
}

func (h *Host) lastLog() string {
	if len(h.logs) == 0 {
		return ""
	}
	return h.logs[len(h.logs)-1]
}

func (h *Host) setRoot()            { h.eff, h.effID = nil, h.root }
func (h *Host) setStream(s *Stream) { h.eff, h.effID = s, s.id }

// Stream is one request through the filter.
type Stream struct {
	h                 *Host
	id                uint32
	RequestHeaders    [][2]string
	ResponseHeaders   [][2]string
	RequestTrailers   [][2]string
	ResponseTrailers  [][2]string
	RequestBody       []byte
	ResponseBody      []byte
	Properties        map[string][]byte // by dotted path: "source.address"
	Local             *LocalResponse
	paused, continued bool
	resumed           bool
}

// NewStream starts a request. Properties answer sdk.Property by dotted path
// ("source.address", "route_name"); request.path/method/host come from the
// pseudo-headers when not set.
func (h *Host) NewStream(props map[string]string) *Stream {
	hostabi.H = h
	mu.Lock()
	nextID++
	id := nextID
	mu.Unlock()
	s := &Stream{h: h, id: id, Properties: map[string][]byte{}}
	for k, v := range props {
		s.Properties[k] = []byte(v)
	}
	h.streams[id] = s
	h.setStream(s)
	hostabi.G.OnContextCreate(id, h.root)
	h.setRoot()
	return s
}

func (s *Stream) run(f func() uint32) sdk.Action {
	hostabi.H = s.h
	s.h.setStream(s)
	s.continued = false
	r := sdk.Action(f())
	s.h.setRoot()
	if s.Local != nil {
		return sdk.Pause
	}
	if r != sdk.Continue && !s.continued {
		s.paused = true
	}
	if s.continued {
		r = sdk.Continue
	}
	return r
}

// SendRequestHeaders runs OnRequestHeaders with hdrs (lower-case keys,
// pseudo-headers first). Read the edited headers from s.RequestHeaders.
func (s *Stream) SendRequestHeaders(hdrs [][2]string, end bool) sdk.Action {
	s.RequestHeaders = append([][2]string(nil), hdrs...)
	return s.run(func() uint32 { return hostabi.G.OnRequestHeaders(s.id, uint32(len(hdrs)), end) })
}

// SendRequestBody runs OnRequestBody.
func (s *Stream) SendRequestBody(body []byte, end bool) sdk.Action {
	s.RequestBody = body
	return s.run(func() uint32 { return hostabi.G.OnRequestBody(s.id, uint32(len(body)), end) })
}

// SendResponseHeaders runs OnResponseHeaders.
func (s *Stream) SendResponseHeaders(hdrs [][2]string, end bool) sdk.Action {
	s.ResponseHeaders = append([][2]string(nil), hdrs...)
	return s.run(func() uint32 { return hostabi.G.OnResponseHeaders(s.id, uint32(len(hdrs)), end) })
}

// SendResponseBody runs OnResponseBody.
func (s *Stream) SendResponseBody(body []byte, end bool) sdk.Action {
	s.ResponseBody = body
	return s.run(func() uint32 { return hostabi.G.OnResponseBody(s.id, uint32(len(body)), end) })
}

// Done ends the stream (on_done, on_log, on_delete).
func (s *Stream) Done() {
	hostabi.H = s.h
	s.h.setStream(s)
	hostabi.G.OnDone(s.id)
	hostabi.G.OnLog(s.id)
	hostabi.G.OnDelete(s.id)
	s.h.setRoot()
	delete(s.h.streams, s.id)
}

// Paused reports whether the stream waits for the filter to resume it.
func (s *Stream) Paused() bool { return s.paused }

// Resumed reports whether the filter resumed the stream after a pause.
func (s *Stream) Resumed() bool { return s.resumed }

// RequestHeader returns a request header after the filter's edits.
func (s *Stream) RequestHeader(key string) string { return get(s.RequestHeaders, key) }

// ResponseHeader returns a response header after the filter's edits.
func (s *Stream) ResponseHeader(key string) string { return get(s.ResponseHeaders, key) }

// HasRequestHeader reports whether key is present.
func (s *Stream) HasRequestHeader(key string) bool {
	_, ok := lookup(s.RequestHeaders, key)
	return ok
}

// PendingHTTPCalls returns the calls not yet answered.
func (h *Host) PendingHTTPCalls() []*HTTPCall { return append([]*HTTPCall(nil), h.calls...) }

// RespondHTTPCall delivers a response to a call; status 0 means the call
// failed (no headers).
func (h *Host) RespondHTTPCall(c *HTTPCall, status int, headers [][2]string, body []byte) {
	hostabi.H = h
	for i, x := range h.calls {
		if x == c {
			h.calls = append(h.calls[:i], h.calls[i+1:]...)
			break
		}
	}
	r := &callResp{body: body}
	if status > 0 {
		r.headers = append([][2]string{{":status", fmt.Sprint(status)}}, headers...)
	}
	h.callResp = r
	if c.stream != nil {
		h.setStream(c.stream)
		c.stream.continued = false
	} else {
		h.setRoot()
	}
	hostabi.G.OnHTTPCallResponse(c.ctxID, c.Token, uint32(len(r.headers)), uint32(len(body)), 0)
	h.callResp = nil
	if s := c.stream; s != nil && s.paused && (s.continued || s.Local != nil) {
		s.paused = false
		s.resumed = s.continued
	}
	h.setRoot()
}

// Tick runs OnTick once.
func (h *Host) Tick() {
	hostabi.H = h
	h.setRoot()
	hostabi.G.OnTick(h.root)
}

// TickPeriod is the period the filter asked for.
func (h *Host) TickPeriod() time.Duration { return h.tick }

// SharedData returns a shared value.
func (h *Host) SharedData(key string) ([]byte, bool) {
	e, ok := h.shared[key]
	if !ok {
		return nil, false
	}
	return e.value, true
}

// Metric returns a metric's value by name.
func (h *Host) Metric(name string) (int64, bool) {
	for _, m := range h.metrics {
		if m.name == name {
			return m.value, true
		}
	}
	return 0, false
}

// Logs returns every logged line, "level: message".
func (h *Host) Logs() []string { return append([]string(nil), h.logs...) }

func lookup(pairs [][2]string, key string) (string, bool) {
	for _, p := range pairs {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

func get(pairs [][2]string, key string) string {
	v, _ := lookup(pairs, key)
	return v
}

func remove(pairs [][2]string, key string) [][2]string {
	out := pairs[:0]
	for _, p := range pairs {
		if p[0] != key {
			out = append(out, p)
		}
	}
	return out
}

// ---- hostabi.Host ----

var levels = []string{"trace", "debug", "info", "warn", "error", "critical"}

// Log implements hostabi.Host.
func (h *Host) Log(level uint32, msg string) hostabi.Status {
	l := "info"
	if int(level) < len(levels) {
		l = levels[level]
	}
	h.logs = append(h.logs, l+": "+msg)
	return hostabi.OK
}

func (h *Host) headerMap(m uint32) *[][2]string {
	if m == 6 {
		if h.callResp != nil {
			return &h.callResp.headers
		}
		return nil
	}
	s := h.eff
	if s == nil {
		return nil
	}
	switch m {
	case 0:
		return &s.RequestHeaders
	case 1:
		return &s.RequestTrailers
	case 2:
		return &s.ResponseHeaders
	case 3:
		return &s.ResponseTrailers
	}
	return nil
}

// GetHeader implements hostabi.Host.
func (h *Host) GetHeader(m uint32, key string) (string, hostabi.Status) {
	p := h.headerMap(m)
	if p == nil {
		return "", hostabi.NotFound
	}
	v, ok := lookup(*p, key)
	if !ok {
		return "", hostabi.NotFound
	}
	return v, hostabi.OK
}

// GetHeaders implements hostabi.Host.
func (h *Host) GetHeaders(m uint32) ([][2]string, hostabi.Status) {
	p := h.headerMap(m)
	if p == nil {
		return nil, hostabi.NotFound
	}
	return append([][2]string(nil), *p...), hostabi.OK
}

// SetHeaders implements hostabi.Host.
func (h *Host) SetHeaders(m uint32, pairs [][2]string) hostabi.Status {
	p := h.headerMap(m)
	if p == nil {
		return hostabi.NotFound
	}
	*p = append([][2]string(nil), pairs...)
	return hostabi.OK
}

// AddHeader implements hostabi.Host.
func (h *Host) AddHeader(m uint32, key, value string) hostabi.Status {
	p := h.headerMap(m)
	if p == nil {
		return hostabi.NotFound
	}
	*p = append(*p, [2]string{key, value})
	return hostabi.OK
}

// ReplaceHeader implements hostabi.Host.
func (h *Host) ReplaceHeader(m uint32, key, value string) hostabi.Status {
	p := h.headerMap(m)
	if p == nil {
		return hostabi.NotFound
	}
	*p = append(remove(*p, key), [2]string{key, value})
	return hostabi.OK
}

// RemoveHeader implements hostabi.Host.
func (h *Host) RemoveHeader(m uint32, key string) hostabi.Status {
	p := h.headerMap(m)
	if p == nil {
		return hostabi.NotFound
	}
	*p = remove(*p, key)
	return hostabi.OK
}

func (h *Host) buffer(t uint32) (*[]byte, bool) {
	switch t {
	case 0:
		if h.eff != nil {
			return &h.eff.RequestBody, true
		}
	case 1:
		if h.eff != nil {
			return &h.eff.ResponseBody, true
		}
	case 4:
		if h.callResp != nil {
			return &h.callResp.body, true
		}
	case 6, 7:
		return &h.cfgBuf, true
	}
	return nil, false
}

// GetBuffer implements hostabi.Host.
func (h *Host) GetBuffer(t, start, max uint32) ([]byte, hostabi.Status) {
	p, ok := h.buffer(t)
	if !ok {
		return nil, hostabi.NotFound
	}
	b := *p
	if int(start) > len(b) {
		return nil, hostabi.BadArgument
	}
	end := len(b)
	if uint64(max) < uint64(end-int(start)) {
		end = int(start) + int(max)
	}
	return append([]byte(nil), b[start:end]...), hostabi.OK
}

// SetBuffer implements hostabi.Host.
func (h *Host) SetBuffer(t, start, size uint32, data []byte) hostabi.Status {
	if t > 1 {
		return hostabi.BadArgument
	}
	p, ok := h.buffer(t)
	if !ok {
		return hostabi.NotFound
	}
	old := *p
	st := min(int(start), len(old))
	end := len(old)
	if uint64(size) < uint64(end-st) {
		end = st + int(size)
	}
	*p = append(append(append([]byte(nil), old[:st]...), data...), old[end:]...)
	return hostabi.OK
}

// SendLocalResponse implements hostabi.Host.
func (h *Host) SendLocalResponse(status uint32, details string, body []byte, headers [][2]string, grpc int32) hostabi.Status {
	if h.eff == nil {
		return hostabi.NotFound
	}
	h.eff.Local = &LocalResponse{Status: int(status), Headers: headers, Body: body}
	return hostabi.OK
}

// ContinueStream implements hostabi.Host.
func (h *Host) ContinueStream(uint32) hostabi.Status {
	if h.eff == nil {
		return hostabi.NotFound
	}
	h.eff.continued = true
	return hostabi.OK
}

// HTTPCall implements hostabi.Host.
func (h *Host) HTTPCall(cluster string, headers [][2]string, body []byte, trailers [][2]string, timeoutMs uint32) (uint32, hostabi.Status) {
	h.token++
	h.calls = append(h.calls, &HTTPCall{Token: h.token, Cluster: cluster, Headers: headers, Body: body,
		Timeout: time.Duration(timeoutMs) * time.Millisecond, stream: h.eff, ctxID: h.effID})
	return h.token, hostabi.OK
}

// SetTickPeriod implements hostabi.Host.
func (h *Host) SetTickPeriod(ms uint32) hostabi.Status {
	if h.eff != nil {
		return hostabi.BadArgument
	}
	h.tick = time.Duration(ms) * time.Millisecond
	return hostabi.OK
}

// GetSharedData implements hostabi.Host.
func (h *Host) GetSharedData(key string) ([]byte, uint32, hostabi.Status) {
	e, ok := h.shared[key]
	if !ok {
		return nil, 0, hostabi.NotFound
	}
	return append([]byte(nil), e.value...), e.cas, hostabi.OK
}

// SetSharedData implements hostabi.Host (same CAS rules as Wasmesh).
func (h *Host) SetSharedData(key string, value []byte, cas uint32) hostabi.Status {
	e, ok := h.shared[key]
	if cas != 0 && (!ok || e.cas != cas) {
		return hostabi.CasMismatch
	}
	h.cas++
	h.shared[key] = &sharedEntry{value: append([]byte(nil), value...), cas: h.cas}
	return hostabi.OK
}

// RegisterQueue implements hostabi.Host.
func (h *Host) RegisterQueue(name string) (uint32, hostabi.Status) {
	if t, ok := h.queues[name]; ok {
		return t, hostabi.OK
	}
	t := uint32(len(h.queues) + 1)
	h.queues[name] = t
	return t, hostabi.OK
}

// ResolveQueue implements hostabi.Host.
func (h *Host) ResolveQueue(vmID, name string) (uint32, hostabi.Status) {
	if t, ok := h.queues[name]; ok {
		return t, hostabi.OK
	}
	return 0, hostabi.NotFound
}

// Enqueue implements hostabi.Host; it delivers OnQueueReady at once.
func (h *Host) Enqueue(tok uint32, data []byte) hostabi.Status {
	h.qdata[tok] = append(h.qdata[tok], append([]byte(nil), data...))
	eff, effID := h.eff, h.effID
	h.setRoot()
	hostabi.G.OnQueueReady(h.root, tok)
	h.eff, h.effID = eff, effID
	return hostabi.OK
}

// Dequeue implements hostabi.Host.
func (h *Host) Dequeue(tok uint32) ([]byte, hostabi.Status) {
	q := h.qdata[tok]
	if len(q) == 0 {
		return nil, hostabi.Empty
	}
	h.qdata[tok] = q[1:]
	return q[0], hostabi.OK
}

// GetProperty implements hostabi.Host.
func (h *Host) GetProperty(path []string) ([]byte, hostabi.Status) {
	key := strings.Join(path, ".")
	if key == "plugin_name" {
		return []byte(h.opts.PluginName), hostabi.OK
	}
	s := h.eff
	if s == nil {
		return nil, hostabi.NotFound
	}
	if v, ok := s.Properties[key]; ok {
		return v, hostabi.OK
	}
	pseudo := map[string]string{"request.path": ":path", "request.method": ":method", "request.host": ":authority", "request.scheme": ":scheme"}
	if hk, ok := pseudo[key]; ok {
		if v, ok := lookup(s.RequestHeaders, hk); ok {
			return []byte(v), hostabi.OK
		}
	}
	if len(path) == 3 && path[0] == "request" && path[1] == "headers" {
		if v, ok := lookup(s.RequestHeaders, path[2]); ok {
			return []byte(v), hostabi.OK
		}
	}
	return nil, hostabi.NotFound
}

// SetProperty implements hostabi.Host.
func (h *Host) SetProperty(path []string, value []byte) hostabi.Status {
	if h.eff == nil {
		return hostabi.BadArgument
	}
	h.eff.Properties[strings.Join(path, ".")] = append([]byte(nil), value...)
	return hostabi.OK
}

// DefineMetric implements hostabi.Host.
func (h *Host) DefineMetric(kind uint32, name string) (uint32, hostabi.Status) {
	for i, m := range h.metrics {
		if m.name == name {
			return uint32(i + 1), hostabi.OK
		}
	}
	h.metrics = append(h.metrics, &metric{name: name, kind: kind})
	return uint32(len(h.metrics)), hostabi.OK
}

func (h *Host) metric(id uint32) *metric {
	if id == 0 || int(id) > len(h.metrics) {
		return nil
	}
	return h.metrics[id-1]
}

// IncrementMetric implements hostabi.Host.
func (h *Host) IncrementMetric(id uint32, delta int64) hostabi.Status {
	m := h.metric(id)
	if m == nil {
		return hostabi.NotFound
	}
	m.value += delta
	return hostabi.OK
}

// RecordMetric implements hostabi.Host.
func (h *Host) RecordMetric(id uint32, v int64) hostabi.Status {
	m := h.metric(id)
	if m == nil {
		return hostabi.NotFound
	}
	if m.kind == 2 {
		m.value += v
	} else {
		m.value = v
	}
	return hostabi.OK
}

// GetMetric implements hostabi.Host.
func (h *Host) GetMetric(id uint32) (int64, hostabi.Status) {
	m := h.metric(id)
	if m == nil {
		return 0, hostabi.NotFound
	}
	return m.value, hostabi.OK
}

// CurrentTimeNanos implements hostabi.Host.
func (h *Host) CurrentTimeNanos() int64 {
	if h.opts.Now != nil {
		return h.opts.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// CallForeignFunction implements hostabi.Host.
func (h *Host) CallForeignFunction(name string, args []byte) ([]byte, hostabi.Status) {
	f, ok := h.opts.ForeignFunctions[name]
	if !ok {
		return nil, hostabi.NotFound
	}
	b, err := f(args)
	if err != nil {
		h.Log(4, "foreign function "+name+": "+err.Error())
		return nil, hostabi.InternalFailure
	}
	return b, hostabi.OK
}

// SetEffectiveContext implements hostabi.Host.
func (h *Host) SetEffectiveContext(id uint32) hostabi.Status {
	if s, ok := h.streams[id]; ok {
		h.setStream(s)
		return hostabi.OK
	}
	if id == h.root {
		h.setRoot()
		return hostabi.OK
	}
	return hostabi.BadArgument
}
