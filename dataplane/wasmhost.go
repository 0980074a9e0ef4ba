package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane/wasm"
	"github.com/wasmesh/wasmesh/dataplane/wasm/redislimit"
)

// filterHost owns the Proxy-Wasm runtime and every plugin, kept by their
// settings across reloads: a reload that leaves a filter unchanged keeps
// its VMs (and their shared data); a changed one is built beside the old
// and swapped in only when the whole config applies.
type filterHost struct {
	s       *Server
	mu      sync.Mutex
	rt      *wasm.Runtime
	rtKey   string
	plugins map[string]*pluginEntry
}

type pluginEntry struct {
	rl     *wasm.Reloader
	cancel context.CancelFunc
}

func (fh *filterHost) runtime(c conf.WasmHost) (*wasm.Runtime, error) {
	key := jsonKey(c)
	if fh.rt != nil {
		if key != fh.rtKey {
			return nil, fmt.Errorf("wasm: runtime settings cannot change while meshd runs (restart to apply)")
		}
		return fh.rt, nil
	}
	dir := c.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "wasmesh", "wasm")
	}
	ff := map[string]wasm.ForeignFunc{}
	if c.RedisURL != "" {
		opt, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("wasm.redis_url: %w", err)
		}
		ff[redislimit.Name] = redislimit.New(redis.NewClient(opt), 50*time.Millisecond)
	}
	rt, err := wasm.NewRuntime(fh.s.ctx, wasm.RuntimeConfig{CacheDir: dir, Logger: fh.s.log, ForeignFunctions: ff})
	if err != nil {
		return nil, err
	}
	fh.rt, fh.rtKey = rt, key
	return rt, nil
}

// build makes the chain of one listener from cfg, reusing unchanged
// plugins. New plugins are returned too, so a failed reload can close them.
func (fh *filterHost) build(cfg *conf.Config, l *conf.Listener, routeNames map[*conf.Route]string, next map[string]*pluginEntry) (*filterChain, error) {
	if len(l.Filters) == 0 {
		return nil, nil
	}
	fh.mu.Lock()
	defer fh.mu.Unlock()
	rt, err := fh.runtime(cfg.Wasm)
	if err != nil {
		return nil, err
	}
	fc := &filterChain{}
	for _, f := range l.Filters {
		pc := wasm.PluginConfig{
			Name: l.Name + "/" + f.Name, WasmPath: f.Wasm, FailOpen: f.FailOpen, PoolSize: f.PoolSize,
			CallDeadline: cfg.Wasm.CallDeadline.D(), Routes: map[string]wasm.RouteConfig{},
			VMID: f.Name,
		}
		if cfg.Wasm.MemoryLimitMB > 0 {
			pc.MemoryLimitPages = uint32(cfg.Wasm.MemoryLimitMB * 16)
		}
		if f.Config != nil {
			pc.Config, _ = json.Marshal(f.Config)
		}
		for r, name := range routeNames {
			for _, rf := range r.Filters {
				if rf.Name != f.Name {
					continue
				}
				rc := wasm.RouteConfig{Disabled: rf.Disabled}
				if rf.Config != nil {
					merged := map[string]any{}
					for k, v := range f.Config {
						merged[k] = v
					}
					for k, v := range rf.Config {
						merged[k] = v
					}
					rc.Config, _ = json.Marshal(merged)
				}
				pc.Routes[name] = rc
			}
		}
		st, err := os.Stat(f.Wasm)
		if err != nil {
			return nil, fmt.Errorf("filter %s: %w (build it with make filters)", f.Name, err)
		}
		key := jsonKey(pc) + st.ModTime().String()
		if e, ok := next[key]; ok {
			fc.filters = append(fc.filters, &wasmFilter{name: f.Name, rl: e.rl})
			continue
		}
		if e, ok := fh.plugins[key]; ok {
			next[key] = e
			fc.filters = append(fc.filters, &wasmFilter{name: f.Name, rl: e.rl})
			continue
		}
		// Compiling a Go-built module takes seconds (much more under the
		// race detector); the on-disk cache makes later starts fast.
		ctx, cancel := context.WithTimeout(fh.s.ctx, 5*time.Minute)
		rl, err := rt.NewReloader(ctx, pc, wasmCalls{fh.s})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("filter %s: %w", f.Name, err)
		}
		wctx, wcancel := context.WithCancel(fh.s.ctx)
		e := &pluginEntry{rl: rl, cancel: wcancel}
		go func() {
			if err := rl.Watch(wctx); err != nil {
				fh.s.log.Warn("wasm file watch stopped", "filter", f.Name, "error", err)
			}
		}()
		next[key] = e
		fc.filters = append(fc.filters, &wasmFilter{name: f.Name, rl: rl})
	}
	return fc, nil
}

// commit makes next the plugin set and closes the plugins no longer used
// (after their streams in flight finish).
func (fh *filterHost) commit(next map[string]*pluginEntry) {
	fh.mu.Lock()
	old := fh.plugins
	fh.plugins = next
	fh.mu.Unlock()
	for k, e := range old {
		if _, ok := next[k]; !ok {
			fh.retire(e)
		}
	}
}

// discard closes plugins built for a reload that failed.
func (fh *filterHost) discard(next map[string]*pluginEntry) {
	fh.mu.Lock()
	cur := fh.plugins
	fh.mu.Unlock()
	for k, e := range next {
		if _, ok := cur[k]; !ok {
			fh.retire(e)
		}
	}
}

func (fh *filterHost) retire(e *pluginEntry) {
	e.cancel()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.rl.Close(ctx)
	}()
}

func (fh *filterHost) close() {
	fh.mu.Lock()
	ps := fh.plugins
	fh.plugins = nil
	rt := fh.rt
	fh.mu.Unlock()
	for _, e := range ps {
		e.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.rl.Close(ctx)
		cancel()
	}
	if rt != nil {
		_ = rt.Close(context.Background())
	}
}

// wasmCalls is the data plane side of proxy_http_call: the call goes to a
// cluster of the config in force, balanced like any request.
type wasmCalls struct{ s *Server }

func (w wasmCalls) HTTPCall(ctx context.Context, cluster string, headers [][2]string, body []byte, timeout time.Duration) (int, [][2]string, []byte, error) {
	cl := w.s.mgr.Get(cluster)
	if cl == nil {
		return 0, nil, nil, fmt.Errorf("http call: no cluster %q", cluster)
	}
	h := cl.Pick(0, nil)
	if h == nil {
		return 0, nil, nil, fmt.Errorf("http call: cluster %q has no endpoint", cluster)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	path, method, authority := "/", "GET", cluster
	for _, kv := range headers {
		switch kv[0] {
		case ":path":
			path = kv[1]
		case ":method":
			method = kv[1]
		case ":authority":
			authority = kv[1]
		default:
			if len(kv[0]) > 0 && kv[0][0] != ':' {
				req.Header.Add(kv[0], kv[1])
			}
		}
	}
	req.SetRequestURI(path)
	req.Header.SetMethod(method)
	req.Header.SetHost(authority)
	if cl.TLS != nil {
		req.URI().SetScheme("https")
	}
	req.SetBody(body)
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	h.Begin()
	err := h.Client.DoTimeout(req, resp, timeout)
	h.End()
	if err != nil {
		return 0, nil, nil, fmt.Errorf("http call to %s: %w", cluster, err)
	}
	var out [][2]string
	resp.Header.VisitAll(func(k, v []byte) {
		out = append(out, [2]string{strings.ToLower(string(k)), string(v)})
	})
	b := append([]byte(nil), resp.Body()...)
	return resp.StatusCode(), out, b, nil
}
