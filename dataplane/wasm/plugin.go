package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
)

// ABI markers a module must export one of.
var abiMarkers = []string{"proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0", "proxy_abi_version_0_1_0"}

// Plugin is one configured filter: a compiled module and a pool of
// configured VMs. Build it with [Runtime.NewPlugin]; it is safe for
// concurrent use. A stream is bound to one VM (its context lives there);
// calls into one VM are serialized, so concurrent requests never run on one
// VM at the same time.
type Plugin struct {
	rt        *Runtime
	cfg       PluginConfig
	host      Host
	log       *slog.Logger
	ns        string
	abi       string
	wr        wazero.Runtime // shared by plugins with the same memory limit
	modKey    [32]byte       // the module's sha256, for Runtime.release
	compiled  wazero.CompiledModule
	configs   [][]byte       // root configs: [0] the plugin's, then per-route overrides
	routeIdx  map[string]int // route name → config index, -1 when disabled
	slots     []atomic.Pointer[vm]
	rr        atomic.Uint32
	counters  *hostCounters
	bg        context.Context // lives until Close; parent of async work
	cancel    context.CancelFunc
	inflight  atomic.Int64
	closed    atomic.Bool            // draining: no VM replacement
	vmsClosed atomic.Bool            // VMs released
	lifeMu    sync.RWMutex           // orders NewStream's inflight count against Close
	next      atomic.Pointer[Plugin] // successor for streams that arrive after Close
	growing   atomic.Bool            // a VM is being added to the pool
	repMu     sync.Mutex
	wg        sync.WaitGroup // async goroutines (http calls, ticks, replacements)
}

// NewPlugin compiles cfg's module (through the Runtime's cache),
// instantiates PoolSize VMs and runs proxy_on_vm_start and
// proxy_on_configure in each, for the base config and every per-route
// override. It returns an error if the module is not a Proxy-Wasm module,
// fails to compile or instantiate, or refuses a configuration; nothing is
// left running then. host may be nil if the guest makes no http calls.
func (r *Runtime) NewPlugin(ctx context.Context, cfg PluginConfig, host Host) (*Plugin, error) {
	if cfg.Name == "" {
		return nil, errors.New("wasm: plugin name is empty")
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = runtime.GOMAXPROCS(0)
	}
	if cfg.MinVMs <= 0 {
		cfg.MinVMs = 1
	}
	if cfg.MinVMs > cfg.PoolSize {
		cfg.MinVMs = cfg.PoolSize
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.CallDeadline <= 0 {
		cfg.CallDeadline = 500 * time.Millisecond
	}
	if cfg.StartDeadline <= 0 {
		cfg.StartDeadline = 10 * time.Second
	}
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = 1024
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("wasm: plugin %s: memory limit %d pages exceeds 65536", cfg.Name, cfg.MemoryLimitPages)
	}
	if cfg.GCEvery == 0 {
		cfg.GCEvery = 1000
	}
	bin := cfg.Wasm
	if bin == nil {
		b, err := os.ReadFile(cfg.WasmPath)
		if err != nil {
			return nil, fmt.Errorf("wasm: plugin %s: %w", cfg.Name, err)
		}
		bin = b
	}
	// The module's bytes are not needed once compiled (wazero keeps its own
	// decoded copy); holding them in p.cfg would keep a few MB per plugin.
	cfg.Wasm = nil
	p := &Plugin{rt: r, cfg: cfg, host: host, ns: cfg.VMID, counters: r.metrics.host(cfg.Name),
		log: r.log.With("plugin", cfg.Name), routeIdx: make(map[string]int)}
	if p.ns == "" {
		p.ns = cfg.Name
	}
	p.configs = append(p.configs, cfg.Config)
	for route, rc := range cfg.Routes {
		switch {
		case rc.Disabled:
			p.routeIdx[route] = -1
		case rc.Config != nil:
			p.routeIdx[route] = len(p.configs)
			p.configs = append(p.configs, rc.Config)
		}
	}
	p.bg, p.cancel = context.WithCancel(context.Background())
	wr, key, compiled, err := r.acquire(ctx, cfg.MemoryLimitPages, bin)
	if err != nil {
		p.cancel()
		return nil, fmt.Errorf("wasm: plugin %s: %w", cfg.Name, err)
	}
	p.wr, p.modKey = wr, key
	fail := func(err error) (*Plugin, error) {
		p.cancel()
		r.release(cfg.MemoryLimitPages, key)
		return nil, fmt.Errorf("wasm: plugin %s: %w", cfg.Name, err)
	}
	p.compiled = compiled
	exports := compiled.ExportedFunctions()
	for _, m := range abiMarkers {
		if _, ok := exports[m]; ok {
			p.abi = m
			break
		}
	}
	if p.abi == "" {
		return fail(errors.New("module exports no proxy_abi_version_0_2_1, _0_2_0 or _0_1_0 marker"))
	}
	p.slots = make([]atomic.Pointer[vm], cfg.PoolSize)
	var started []*vm
	for i := 0; i < cfg.MinVMs; i++ {
		v, pending, err := p.newVM(ctx, i)
		if err != nil {
			for _, v := range started {
				v.close()
			}
			return fail(err)
		}
		started = append(started, v)
		p.slots[i].Store(v)
		p.dispatch(v, pending)
	}
	if cfg.PoolSize > cfg.MinVMs && cfg.IdleTimeout > 0 {
		p.wg.Add(1)
		go p.reapIdle(cfg.IdleTimeout)
	}
	p.log.Debug("wasm plugin started", "abi", p.abi, "vms", cfg.MinVMs, "max_vms", cfg.PoolSize)
	return p, nil
}

// Name is the plugin's configured name.
func (p *Plugin) Name() string { return p.cfg.Name }

// FailOpen reports whether a failed filter lets the request continue.
func (p *Plugin) FailOpen() bool { return p.cfg.FailOpen }

// Enabled reports whether the plugin runs on route (false when the route
// disables it), so the data plane can skip NewStream altogether.
func (p *Plugin) Enabled(route string) bool {
	i, ok := p.routeIdx[route]
	return !ok || i >= 0
}

// Close stops the plugin once the streams in flight are Done (or ctx ends),
// then releases its VMs. Streams started while it drains are still served;
// a stream started after the VMs are released fails by the fail_open
// setting (it never skips the filter). Use Retire when a replacement exists.
func (p *Plugin) Close(ctx context.Context) error { return p.Retire(ctx, nil) }

// Retire closes the plugin like Close, after handing it a successor: a
// request that took the old plugin before a swap and calls NewStream after
// its VMs are gone is served by next instead.
func (p *Plugin) Retire(ctx context.Context, next *Plugin) error {
	if next != nil {
		p.next.Store(next)
	}
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		p.lifeMu.Lock()
		if p.inflight.Load() == 0 {
			p.vmsClosed.Store(true)
			p.lifeMu.Unlock()
			break
		}
		p.lifeMu.Unlock()
		select {
		case <-ctx.Done():
			p.log.Warn("wasm plugin closed with streams in flight", "streams", p.inflight.Load())
			p.vmsClosed.Store(true)
		case <-t.C:
			continue
		}
		break
	}
	p.cancel()
	for i := range p.slots {
		if v := p.slots[i].Load(); v != nil {
			v.mu.Lock()
			v.close()
			v.mu.Unlock()
		}
	}
	p.wg.Wait()
	p.rt.release(p.cfg.MemoryLimitPages, p.modKey)
	return nil
}

// pick returns a live VM, preferring an idle one; it returns it locked.
func (p *Plugin) pick() (*vm, error) {
	n := uint32(len(p.slots))
	// The first idle VM: under light load one VM takes most streams and
	// keeps its caches (verified tokens, keys) warm.
	for i := uint32(0); i < n; i++ {
		v := p.slots[i].Load()
		if v != nil && !v.dead.Load() && v.mu.TryLock() {
			if !v.dead.Load() {
				v.used.Store(true)
				return v, nil
			}
			v.mu.Unlock()
		}
	}
	// Every VM is busy: grow the pool (in the background; this stream waits
	// for a busy VM rather than for a new one to start).
	p.grow()
	start := p.rr.Add(1)
	for i := uint32(0); i < n; i++ {
		v := p.slots[(start+i)%n].Load()
		if v != nil && !v.dead.Load() {
			v.mu.Lock()
			if !v.dead.Load() {
				v.used.Store(true)
				return v, nil
			}
			v.mu.Unlock()
		}
	}
	// Every VM is dead and being replaced: build one now.
	if p.vmsClosed.Load() {
		return nil, errors.New("plugin closed")
	}
	p.repMu.Lock()
	defer p.repMu.Unlock()
	slot := int(start % n)
	if v := p.slots[slot].Load(); v != nil && !v.dead.Load() {
		v.mu.Lock()
		v.used.Store(true)
		return v, nil
	}
	v, pending, err := p.newVM(p.bg, slot)
	if err != nil {
		return nil, err
	}
	p.slots[slot].Store(v)
	p.counters.replaced.Add(1)
	p.dispatch(v, pending)
	v.mu.Lock()
	v.used.Store(true)
	return v, nil
}

// reapIdle runs shrink every period until the plugin closes.
func (p *Plugin) reapIdle(period time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-p.bg.Done():
			return
		case <-t.C:
			p.shrink()
		}
	}
}

// shrink closes the VMs beyond MinVMs that took no stream since the
// previous shrink and have nothing in flight, highest slots first (pick
// prefers low slots, so those are the least used). A VM that is busy right
// now is left for the next round.
func (p *Plugin) shrink() {
	if p.closed.Load() {
		return
	}
	live := 0
	for i := range p.slots {
		if v := p.slots[i].Load(); v != nil && !v.dead.Load() {
			live++
		}
	}
	for i := len(p.slots) - 1; i >= 0 && live > p.cfg.MinVMs; i-- {
		v := p.slots[i].Load()
		if v == nil || v.dead.Load() || v.used.Swap(false) || !v.mu.TryLock() {
			continue
		}
		if !v.dead.Load() && !p.closed.Load() && len(v.streams) == 0 && v.calls.Load() == 0 &&
			p.slots[i].CompareAndSwap(v, nil) {
			v.close()
			live--
			p.log.Debug("idle wasm VM closed", "slot", i, "vms", live)
		}
		v.mu.Unlock()
	}
}

// grow starts one more VM in an empty slot, unless the pool is full, one is
// already starting, or the plugin is closing.
func (p *Plugin) grow() {
	if p.closed.Load() || !p.growing.CompareAndSwap(false, true) {
		return
	}
	slot := -1
	for i := range p.slots {
		if p.slots[i].Load() == nil {
			slot = i
			break
		}
	}
	if slot < 0 {
		p.growing.Store(false)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.growing.Store(false)
		v, pending, err := p.newVM(p.bg, slot)
		if err != nil {
			p.log.Error("wasm VM start failed while growing the pool", "err", err)
			return
		}
		v.used.Store(true) // it was started for load: keep it for a round at least
		if p.closed.Load() || !p.slots[slot].CompareAndSwap(nil, v) {
			v.mu.Lock()
			v.close()
			v.mu.Unlock()
			return
		}
		p.dispatch(v, pending)
	}()
}

// replace builds a new VM for the failed one's slot.
func (p *Plugin) replace(old *vm) {
	defer p.wg.Done()
	p.repMu.Lock()
	defer p.repMu.Unlock()
	if p.closed.Load() || p.slots[old.slot].Load() != old {
		return
	}
	v, pending, err := p.newVM(p.bg, old.slot)
	if err != nil {
		p.log.Error("wasm VM replacement failed; the next stream retries", "err", err)
		return
	}
	if p.slots[old.slot].CompareAndSwap(old, v) {
		p.counters.replaced.Add(1)
		p.dispatch(v, pending)
	} else {
		v.mu.Lock()
		v.close()
		v.mu.Unlock()
	}
}

// NewStream starts a filter stream for one request: it binds the request to
// a VM and creates its HTTP context there, under the root context of the
// request's route (info.RouteName selects an override from
// PluginConfig.Routes; a disabled route gets a stream that always
// continues). Call Done when the request ends.
func (p *Plugin) NewStream(info StreamInfo) *Stream {
	s := &Stream{p: p, info: info, resume: make(chan Action, 1)}
	idx, ok := p.routeIdx[info.RouteName]
	if ok && idx < 0 {
		s.disabled = true
		return s
	}
	p.lifeMu.RLock()
	if p.vmsClosed.Load() {
		p.lifeMu.RUnlock()
		if next := p.next.Load(); next != nil {
			return next.NewStream(info)
		}
		p.inflight.Add(1)
		s.failed = true
		s.failErr = "plugin closed"
		return s
	}
	p.inflight.Add(1)
	p.lifeMu.RUnlock()
	v, err := p.pick()
	if err != nil {
		s.failed = true
		s.failErr = err.Error()
		return s
	}
	s.v = v
	v.nextCtx++
	s.id = v.nextCtx
	v.streams[s.id] = s
	v.setEff(s.id, s)
	_, err = v.invoke(p.cfg.CallDeadline, v.fn.onContextCreate, uint64(s.id), uint64(v.roots[idx]))
	v.clearEff()
	if err != nil {
		v.fail(err)
		s.failed = true
		s.failErr = v.failMsg
	}
	v.mu.Unlock()
	return s
}

// dispatch starts the http calls a guest made during a callback.
func (p *Plugin) dispatch(v *vm, calls []pendingCall) {
	for _, c := range calls {
		p.counters.httpCalls.Add(1)
		v.calls.Add(1)
		p.wg.Add(1)
		go p.runCall(v, c)
	}
}

func (p *Plugin) runCall(v *vm, c pendingCall) {
	defer p.wg.Done()
	defer v.calls.Add(-1)
	var (
		status int
		hdrs   [][2]string
		body   []byte
		err    error
	)
	if p.host == nil {
		err = errors.New("no host for http calls")
	} else {
		ctx, cancel := context.WithTimeout(p.bg, c.timeout)
		status, hdrs, body, err = p.host.HTTPCall(ctx, c.cluster, c.headers, c.body, c.timeout)
		cancel()
	}
	resp := &callResponse{}
	if err != nil {
		p.log.Debug("wasm http call failed", "cluster", c.cluster, "err", err)
	} else {
		resp.headers = make(Headers, 0, len(hdrs)+1)
		resp.headers = append(resp.headers, [2]string{":status", itoa(status)})
		resp.headers = append(resp.headers, hdrs...)
		resp.body = body
	}
	v.mu.Lock()
	s := c.stream
	if v.dead.Load() || (s != nil && s.finished) {
		v.mu.Unlock()
		return // a dead VM already failed its paused streams
	}
	v.setEff(c.ctxID, s)
	v.callResp = resp
	_, cerr := v.invoke(p.cfg.CallDeadline, v.fn.onHTTPCallResponse, uint64(c.ctxID), uint64(c.token),
		uint64(len(resp.headers)), uint64(len(resp.body)), 0)
	v.callResp = nil
	v.clearEff()
	if cerr != nil {
		v.fail(cerr)
		v.mu.Unlock()
		return
	}
	if s != nil {
		s.settle()
	}
	pending := v.takePending()
	v.startTicks()
	v.mu.Unlock()
	p.dispatch(v, pending)
}

func itoa(n int) string {
	if n >= 100 && n < 1000 {
		return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
	}
	return fmt.Sprint(n)
}
