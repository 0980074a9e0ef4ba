package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/shared"
)

// failure reasons, the label values of meshd_wasm_vm_failures_total.
const (
	reasonTrap = iota
	reasonDeadline
	reasonMemory
	reasonExit
)

var failReasons = [...]string{"trap", "deadline", "memory", "exit"}

type vmKey struct{}

// watchCtx is a VM's call context. Its Done channel closes when a call runs
// past its deadline (the VM's timer fires); wazero then closes the module
// (WithCloseOnContextDone). One per VM, reused by every call, so a call
// costs a timer Reset/Stop instead of a context and a timer allocation.
type watchCtx struct {
	context.Context // carries vmKey
	done            chan struct{}
	once            sync.Once
}

func (w *watchCtx) Done() <-chan struct{}       { return w.done }
func (w *watchCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (w *watchCtx) Err() error {
	select {
	case <-w.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
func (w *watchCtx) expire() { w.once.Do(func() { close(w.done) }) }

var errDeadline = errors.New("guest call ran past its deadline")

type pendingCall struct {
	token   uint32
	ctxID   uint32
	stream  *Stream
	cluster string
	headers [][2]string
	body    []byte
	timeout time.Duration
}

type callResponse struct {
	headers Headers
	body    []byte
}

type guestFns struct {
	malloc, initialize, gc                                           api.Function
	onContextCreate, onVMStart, onConfigure, onTick                  api.Function
	onReqHeaders, onReqBody, onReqTrailers                           api.Function
	onRespHeaders, onRespBody, onRespTrailers                        api.Function
	onDone, onLog, onDelete, onHTTPCallResponse, onQueueReady, onFFI api.Function
}

// vm is one module instance. mu serializes every call into it; the fields
// below mu are guarded by it.
type vm struct {
	p     *Plugin
	slot  int
	mod   api.Module
	fn    guestFns
	hdr3  bool // headers callbacks take end_of_stream (0.2.x)
	base  *watchCtx
	timer *time.Timer
	dead  atomic.Bool
	used  atomic.Bool  // took a stream since the last idle check
	calls atomic.Int32 // http calls dispatched and not yet answered

	mu       sync.Mutex
	stack    [8]uint64
	mstack   [2]uint64
	roots    []uint32 // root context id per config index
	nextCtx  uint32
	streams  map[uint32]*Stream
	eff      *Stream // stream of the effective context, nil for a root
	effID    uint32
	cfgBuf   []byte // plugin or vm configuration during start / configure
	callResp *callResponse
	callData []byte
	pending  []pendingCall
	token    uint32
	sinceGC  int
	ticks    map[uint32]*tick
	failMsg  string
	oom      bool // the guest reported running out of memory
	closed   bool
	scratch  []byte
	pairs    [][2]string
}

type tick struct {
	period  time.Duration
	stop    chan struct{}
	running bool
}

// stderrLog forwards guest stdout/stderr (a Go guest's panic message) to
// slog, one record per line. Writes happen inside guest calls, under v.mu.
type stderrLog struct {
	v   *vm
	buf *[]byte
}

func (w stderrLog) Write(b []byte) (int, error) {
	*w.buf = append(*w.buf, b...)
	if bytes.Contains(*w.buf, []byte("out of memory")) {
		w.v.oom = true // a Go guest's "fatal error: out of memory"
	}
	for {
		i := bytes.IndexByte(*w.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimSpace((*w.buf)[:i]); len(line) > 0 {
			w.v.p.log.Warn("wasm guest output", "line", string(line))
		}
		*w.buf = (*w.buf)[i+1:]
	}
	if len(*w.buf) > 4096 {
		w.v.p.log.Warn("wasm guest output", "line", string(*w.buf))
		*w.buf = (*w.buf)[:0]
	}
	return len(b), nil
}

// newVM instantiates and configures one VM; it returns the http calls the
// guest made while starting, for the caller to dispatch.
func (p *Plugin) newVM(ctx context.Context, slot int) (*vm, []pendingCall, error) {
	v := &vm{p: p, slot: slot, streams: make(map[uint32]*Stream), ticks: make(map[uint32]*tick)}
	v.base = &watchCtx{Context: context.WithValue(context.Background(), vmKey{}, v), done: make(chan struct{})}
	v.timer = time.AfterFunc(time.Hour, v.base.expire)
	v.timer.Stop()
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _initialize is called below, explicitly
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(stderrLog{v, new([]byte)}).WithStderr(stderrLog{v, new([]byte)})
	ictx, cancel := context.WithTimeout(experimental.WithMemoryAllocator(v.base, mmapAllocator), p.cfg.StartDeadline)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	mod, err := p.wr.InstantiateModule(ictx, p.compiled, mc)
	if err != nil {
		return nil, nil, fmt.Errorf("instantiate: %w", err)
	}
	v.mod = mod
	f := mod.ExportedFunction
	v.fn = guestFns{
		malloc: f("proxy_on_memory_allocate"), initialize: f("_initialize"), gc: f("wasmesh_gc"),
		onContextCreate: f("proxy_on_context_create"), onVMStart: f("proxy_on_vm_start"),
		onConfigure: f("proxy_on_configure"), onTick: f("proxy_on_tick"),
		onReqHeaders: f("proxy_on_request_headers"), onReqBody: f("proxy_on_request_body"),
		onReqTrailers: f("proxy_on_request_trailers"), onRespHeaders: f("proxy_on_response_headers"),
		onRespBody: f("proxy_on_response_body"), onRespTrailers: f("proxy_on_response_trailers"),
		onDone: f("proxy_on_done"), onLog: f("proxy_on_log"), onDelete: f("proxy_on_delete"),
		onHTTPCallResponse: f("proxy_on_http_call_response"), onQueueReady: f("proxy_on_queue_ready"),
		onFFI: f("proxy_on_foreign_function"),
	}
	if v.fn.malloc == nil {
		v.fn.malloc = f("malloc")
	}
	if v.fn.malloc == nil || v.fn.onContextCreate == nil {
		_ = mod.Close(context.Background())
		return nil, nil, errors.New("module lacks proxy_on_memory_allocate/malloc or proxy_on_context_create")
	}
	if h := v.fn.onReqHeaders; h != nil {
		v.hdr3 = len(h.Definition().ParamTypes()) == 3
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	fail := func(what string, err error) (*vm, []pendingCall, error) {
		v.close()
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	d := p.cfg.StartDeadline
	if v.fn.initialize != nil {
		if _, err := v.invoke(d, v.fn.initialize); err != nil {
			return fail("_initialize", err)
		}
	}
	for i := range p.configs {
		v.nextCtx++
		root := v.nextCtx
		v.roots = append(v.roots, root)
		v.setEff(root, nil)
		if _, err := v.invoke(d, v.fn.onContextCreate, uint64(root), 0); err != nil {
			return fail("proxy_on_context_create", err)
		}
		v.cfgBuf = p.cfg.VMConfig
		ok, err := v.invoke(d, v.fn.onVMStart, uint64(root), uint64(len(v.cfgBuf)))
		if err != nil {
			return fail("proxy_on_vm_start", err)
		}
		if v.fn.onVMStart != nil && uint32(ok) == 0 {
			return fail("proxy_on_vm_start", errors.New("guest refused to start"))
		}
		v.cfgBuf = p.configs[i]
		ok, err = v.invoke(d, v.fn.onConfigure, uint64(root), uint64(len(v.cfgBuf)))
		v.cfgBuf = nil
		if err != nil {
			return fail("proxy_on_configure", err)
		}
		if v.fn.onConfigure != nil && uint32(ok) == 0 {
			what := "plugin configuration"
			if i > 0 {
				what = "a per-route configuration"
			}
			return fail("proxy_on_configure", fmt.Errorf("guest refused %s", what))
		}
	}
	v.clearEff()
	p.counters.vms.Add(1)
	v.startTicks()
	return v, v.takePending(), nil
}

func (v *vm) setEff(id uint32, s *Stream) { v.effID, v.eff = id, s }
func (v *vm) clearEff()                   { v.effID, v.eff = 0, nil }

func (v *vm) takePending() []pendingCall {
	if len(v.pending) == 0 {
		return nil
	}
	out := v.pending
	v.pending = nil
	return out
}

// invoke calls fn with args under a deadline; v.mu must be held. A nil fn
// (an optional export the guest lacks) returns 0. Every GCEvery calls it
// also calls the guest's wasmesh_gc export, so a Go guest's collector runs.
func (v *vm) invoke(d time.Duration, fn api.Function, args ...uint64) (uint64, error) {
	if fn == nil {
		return 0, nil
	}
	if v.closed {
		return 0, errors.New("vm closed")
	}
	copy(v.stack[:], args)
	err := v.call(d, fn, v.stack[:])
	v.p.counters.calls.Add(1)
	if err != nil {
		return 0, err
	}
	r := v.stack[0]
	if v.fn.gc != nil && v.p.cfg.GCEvery > 0 {
		v.sinceGC++
		if v.sinceGC >= v.p.cfg.GCEvery {
			v.sinceGC = 0
			if err := v.call(d, v.fn.gc, v.stack[:]); err != nil {
				return 0, fmt.Errorf("wasmesh_gc: %w", err)
			}
		}
	}
	return r, nil
}

// call runs fn under the VM's deadline timer.
func (v *vm) call(d time.Duration, fn api.Function, stack []uint64) error {
	v.timer.Reset(d)
	err := fn.CallWithStack(v.base, stack)
	if !v.timer.Stop() && err == nil {
		// The deadline fired as the call returned: the module is closing.
		err = errDeadline
	}
	return err
}

// classify names why a call failed.
func (v *vm) classify(err error) int {
	mem := v.mod.Memory()
	nearLimit := mem != nil && uint64(mem.Size()) >= uint64(v.p.cfg.MemoryLimitPages)*65536*3/4
	var ee *sys.ExitError
	if errors.As(err, &ee) {
		switch ee.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return reasonDeadline
		}
		if nearLimit || v.oom {
			return reasonMemory
		}
		return reasonExit
	}
	if errors.Is(err, errDeadline) {
		return reasonDeadline
	}
	if nearLimit || v.oom {
		return reasonMemory
	}
	return reasonTrap
}

// fail marks the VM dead after a failed call, fails its paused streams,
// counts the failure and starts a replacement. v.mu must be held.
func (v *vm) fail(err error) {
	if !v.dead.CompareAndSwap(false, true) {
		return
	}
	reason := v.classify(err)
	v.failMsg = failReasons[reason]
	v.p.counters.failures[reason].Add(1)
	v.p.log.Error("wasm VM failed; replacing it", "reason", failReasons[reason], "err", err)
	for _, s := range v.streams {
		if s.paused {
			s.paused = false
			s.resume <- s.failAction(v.failMsg)
		}
	}
	v.close()
	if !v.p.closed.Load() {
		v.p.wg.Add(1)
		go v.p.replace(v)
	}
}

// close releases the instance; v.mu must be held.
func (v *vm) close() {
	if v.closed {
		return
	}
	v.closed = true
	v.dead.Store(true)
	v.timer.Stop()
	for _, t := range v.ticks {
		if t.running {
			close(t.stop)
			t.running = false
		}
	}
	v.p.rt.queues.Unsubscribe(v)
	if v.roots != nil {
		v.p.counters.vms.Add(-1)
	}
	_ = v.mod.Close(context.Background())
}

// startTicks (re)starts tickers whose period changed; v.mu must be held.
func (v *vm) startTicks() {
	for root, t := range v.ticks {
		if t.running || t.period <= 0 || v.closed {
			continue
		}
		t.running = true
		t.stop = make(chan struct{})
		v.p.wg.Add(1)
		go v.tickLoop(root, t.period, t.stop)
	}
}

func (v *vm) tickLoop(root uint32, period time.Duration, stop chan struct{}) {
	defer v.p.wg.Done()
	tk := time.NewTicker(period)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-v.p.bg.Done():
			return
		case <-tk.C:
		}
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			return
		}
		v.setEff(root, nil)
		_, err := v.invoke(v.p.cfg.CallDeadline, v.fn.onTick, uint64(root))
		v.clearEff()
		if err != nil {
			v.fail(err)
			v.mu.Unlock()
			return
		}
		pending := v.takePending()
		v.startTicks()
		v.mu.Unlock()
		v.p.dispatch(v, pending)
	}
}

// queueNotify delivers proxy_on_queue_ready to a root context of v.
func (v *vm) queueNotify(root uint32) shared.Subscriber {
	return shared.Subscriber{ID: v, Notify: func(tok uint32) {
		v.p.wg.Add(1)
		go func() {
			defer v.p.wg.Done()
			v.mu.Lock()
			if v.closed {
				v.mu.Unlock()
				return
			}
			v.setEff(root, nil)
			_, err := v.invoke(v.p.cfg.CallDeadline, v.fn.onQueueReady, uint64(root), uint64(tok))
			v.clearEff()
			if err != nil {
				v.fail(err)
				v.mu.Unlock()
				return
			}
			pending := v.takePending()
			v.mu.Unlock()
			v.p.dispatch(v, pending)
		}()
	}}
}
