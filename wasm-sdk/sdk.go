package sdk

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/wasmesh/wasmesh/wasm-sdk/internal/hostabi"
)

// Action is a filter callback's verdict.
type Action uint32

const (
	// Continue lets the request or response go on.
	Continue Action = 0
	// Pause holds it until ResumeRequest/ResumeResponse or a local response
	// (typically from an HTTPCall callback).
	Pause Action = 1
)

// Plugin is a root context: one per VM and configuration.
type Plugin interface {
	// OnConfigure receives the plugin configuration (often JSON); an error
	// refuses it, and the host rejects the plugin (or the reload).
	OnConfigure(config []byte) error
	// NewHTTPFilter makes the filter for one request.
	NewHTTPFilter(contextID uint32) HTTPFilter
}

// Ticker is implemented by a Plugin that calls SetTickPeriod.
type Ticker interface{ OnTick() }

// QueueListener is implemented by a Plugin that registers shared queues.
type QueueListener interface{ OnQueueReady(queueID uint32) }

// VMStarter is implemented by a Plugin that wants the VM configuration.
type VMStarter interface{ OnVMStart(vmConfig []byte) error }

// HTTPFilter handles one request. Embed DefaultHTTPFilter and override
// the callbacks you need.
type HTTPFilter interface {
	OnRequestHeaders(numHeaders int, endOfStream bool) Action
	OnRequestBody(bodySize int, endOfStream bool) Action
	OnRequestTrailers(numTrailers int) Action
	OnResponseHeaders(numHeaders int, endOfStream bool) Action
	OnResponseBody(bodySize int, endOfStream bool) Action
	OnResponseTrailers(numTrailers int) Action
	// OnDone runs when the stream ends (Proxy-Wasm's on_log): headers are
	// still readable, so it is the place for access logs and spans.
	OnDone()
}

// DefaultHTTPFilter continues everything.
type DefaultHTTPFilter struct{}

// OnRequestHeaders implements HTTPFilter.
func (DefaultHTTPFilter) OnRequestHeaders(int, bool) Action { return Continue }

// OnRequestBody implements HTTPFilter.
func (DefaultHTTPFilter) OnRequestBody(int, bool) Action { return Continue }

// OnRequestTrailers implements HTTPFilter.
func (DefaultHTTPFilter) OnRequestTrailers(int) Action { return Continue }

// OnResponseHeaders implements HTTPFilter.
func (DefaultHTTPFilter) OnResponseHeaders(int, bool) Action { return Continue }

// OnResponseBody implements HTTPFilter.
func (DefaultHTTPFilter) OnResponseBody(int, bool) Action { return Continue }

// OnResponseTrailers implements HTTPFilter.
func (DefaultHTTPFilter) OnResponseTrailers(int) Action { return Continue }

// OnDone implements HTTPFilter.
func (DefaultHTTPFilter) OnDone() {}

var newPlugin func(rootContextID uint32) Plugin

// SetNewPlugin registers the plugin factory; call it from init.
func SetNewPlugin(f func(rootContextID uint32) Plugin) { newPlugin = f }

// HTTPCallResponse is an http call's result, handed to its callback.
// Status is 0 and Failed true when the call could not be made (unknown
// cluster, connect error, timeout).
type HTTPCallResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
	Failed  bool
}

type dispatcher struct {
	roots   map[uint32]Plugin
	filters map[uint32]HTTPFilter
	calls   map[uint32]func(HTTPCallResponse)
}

var d = &dispatcher{roots: map[uint32]Plugin{}, filters: map[uint32]HTTPFilter{}, calls: map[uint32]func(HTTPCallResponse){}}

func init() { hostabi.G = d }

func (d *dispatcher) OnContextCreate(id, parent uint32) {
	if parent == 0 {
		if newPlugin == nil {
			panic("sdk: SetNewPlugin was not called")
		}
		d.roots[id] = newPlugin(id)
		return
	}
	if r, ok := d.roots[parent]; ok {
		d.filters[id] = r.NewHTTPFilter(id)
	}
}

func (d *dispatcher) OnVMStart(root, size uint32) bool {
	p, ok := d.roots[root]
	if !ok {
		return false
	}
	if s, ok := p.(VMStarter); ok {
		cfg, _ := getBuffer(bufferVMConfiguration, 0, size)
		if err := s.OnVMStart(cfg); err != nil {
			Errorf("vm start refused: %v", err)
			return false
		}
	}
	return true
}

func (d *dispatcher) OnConfigure(root, size uint32) bool {
	p, ok := d.roots[root]
	if !ok {
		return false
	}
	var cfg []byte
	if size > 0 {
		var err error
		if cfg, err = getBuffer(bufferPluginConfiguration, 0, size); err != nil {
			Errorf("reading plugin configuration: %v", err)
			return false
		}
	}
	if err := p.OnConfigure(cfg); err != nil {
		Errorf("configuration refused: %v", err)
		return false
	}
	return true
}

func (d *dispatcher) OnTick(root uint32) {
	if t, ok := d.roots[root].(Ticker); ok {
		t.OnTick()
	}
}

func (d *dispatcher) filter(id uint32) HTTPFilter {
	if f, ok := d.filters[id]; ok {
		return f
	}
	return DefaultHTTPFilter{}
}

func (d *dispatcher) OnRequestHeaders(id, n uint32, end bool) uint32 {
	return uint32(d.filter(id).OnRequestHeaders(int(n), end))
}
func (d *dispatcher) OnRequestBody(id, size uint32, end bool) uint32 {
	return uint32(d.filter(id).OnRequestBody(int(size), end))
}
func (d *dispatcher) OnRequestTrailers(id, n uint32) uint32 {
	return uint32(d.filter(id).OnRequestTrailers(int(n)))
}
func (d *dispatcher) OnResponseHeaders(id, n uint32, end bool) uint32 {
	return uint32(d.filter(id).OnResponseHeaders(int(n), end))
}
func (d *dispatcher) OnResponseBody(id, size uint32, end bool) uint32 {
	return uint32(d.filter(id).OnResponseBody(int(size), end))
}
func (d *dispatcher) OnResponseTrailers(id, n uint32) uint32 {
	return uint32(d.filter(id).OnResponseTrailers(int(n)))
}

func (d *dispatcher) OnHTTPCallResponse(id, token, nh, bodySize, nt uint32) {
	cb, ok := d.calls[token]
	if !ok {
		return
	}
	delete(d.calls, token)
	resp := HTTPCallResponse{Failed: nh == 0}
	if nh > 0 {
		resp.Headers, _ = getHeaders(mapHTTPCallResponseHeaders)
		for _, h := range resp.Headers {
			if h[0] == ":status" {
				fmt.Sscan(h[1], &resp.Status)
			}
		}
	}
	if bodySize > 0 {
		resp.Body, _ = getBuffer(bufferHTTPCallResponseBody, 0, bodySize)
	}
	cb(resp)
}

func (d *dispatcher) OnQueueReady(root, token uint32) {
	if l, ok := d.roots[root].(QueueListener); ok {
		l.OnQueueReady(token)
	}
}

func (d *dispatcher) OnDone(id uint32) bool { return true }

func (d *dispatcher) OnLog(id uint32) {
	if f, ok := d.filters[id]; ok {
		f.OnDone()
	}
}

func (d *dispatcher) OnDelete(id uint32) {
	delete(d.filters, id)
	delete(d.roots, id)
}

// gc lets the Go runtime collect garbage between host calls; the host calls
// the wasmesh_gc export periodically.
func gc() { runtime.Gosched() }

// Status errors a host function can return.
var (
	ErrNotFound      = errors.New("proxy-wasm: not found")
	ErrBadArgument   = errors.New("proxy-wasm: bad argument")
	ErrCasMismatch   = errors.New("proxy-wasm: compare-and-swap mismatch")
	ErrEmpty         = errors.New("proxy-wasm: empty")
	ErrUnimplemented = errors.New("proxy-wasm: unimplemented")
	ErrInternal      = errors.New("proxy-wasm: internal failure")
	ErrInvalidMemory = errors.New("proxy-wasm: invalid memory access")
	ErrParseFailure  = errors.New("proxy-wasm: parse failure")
	errNoHost        = errors.New("proxy-wasm: no host (use sdktest to run natively)")
	_                = math.MaxUint32
)

func statusErr(s hostabi.Status) error {
	switch s {
	case hostabi.OK:
		return nil
	case hostabi.NotFound:
		return ErrNotFound
	case hostabi.BadArgument:
		return ErrBadArgument
	case hostabi.CasMismatch:
		return ErrCasMismatch
	case hostabi.Empty:
		return ErrEmpty
	case hostabi.Unimplemented:
		return ErrUnimplemented
	case hostabi.InvalidMemoryAccess:
		return ErrInvalidMemory
	case hostabi.ParseFailure:
		return ErrParseFailure
	}
	return fmt.Errorf("%w (status %d)", ErrInternal, s)
}
