package wasm

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/shared"
)

// Runtime is the process-wide part of the host. Plugins built from one
// Runtime share its compilation cache, shared data, queues, metrics and
// foreign functions, which is what lets a reloaded plugin keep its state.
type Runtime struct {
	mu      sync.Mutex
	engines map[uint32]*engine // by memory limit
	cfg     RuntimeConfig
	log     *slog.Logger
	cache   wazero.CompilationCache
	data    *shared.Data
	queues  *shared.Queues
	metrics *metrics
}

// NewRuntime makes a Runtime. With CacheDir set, compiled code is kept on
// disk so the next process skips the compile (about a second for a Go module).
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	r := &Runtime{cfg: cfg, log: cfg.Logger, engines: make(map[uint32]*engine), data: shared.NewData(), queues: shared.NewQueues(), metrics: newMetrics()}
	if r.log == nil {
		r.log = slog.Default()
	}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", cfg.CacheDir, err)
		}
		r.cache = c
	} else {
		r.cache = wazero.NewCompilationCache()
	}
	return r, nil
}

// Close releases the compilation cache and any wazero runtime a plugin
// left open. Close every Plugin first.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	for limit, e := range r.engines {
		_ = e.wr.Close(ctx)
		delete(r.engines, limit)
	}
	r.mu.Unlock()
	return r.cache.Close(ctx)
}

// SharedData returns a shared-data value as guests see it under vmID (a
// plugin's VMID, or its Name by default), for the admin API and tests.
func (r *Runtime) SharedData(vmID, key string) (value []byte, cas uint32, ok bool) {
	return r.data.Get(vmID, key)
}

// engine is a wazero runtime shared by the plugins with one memory limit
// (the limit is a runtime setting), and the modules compiled in it, shared
// by the plugins running the same bytes: a config-only reload, or one
// filter in several chains, reuses the compiled code.
type engine struct {
	wr      wazero.Runtime
	refs    int
	modules map[[32]byte]*sharedModule
}

type sharedModule struct {
	cm   wazero.CompiledModule
	refs int
}

// acquire returns the runtime for limit and bin compiled in it, counting a
// reference to both; release gives them back.
func (r *Runtime) acquire(ctx context.Context, limit uint32, bin []byte) (wazero.Runtime, [32]byte, wazero.CompiledModule, error) {
	key := sha256.Sum256(bin)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.engines[limit]
	if e == nil {
		wr := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
			WithCompilationCache(r.cache).
			WithCloseOnContextDone(true).
			WithMemoryLimitPages(limit))
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, wr); err != nil {
			_ = wr.Close(context.Background())
			return nil, key, nil, fmt.Errorf("wasi: %w", err)
		}
		if err := instantiateEnv(ctx, wr); err != nil {
			_ = wr.Close(context.Background())
			return nil, key, nil, fmt.Errorf("host module: %w", err)
		}
		e = &engine{wr: wr, modules: make(map[[32]byte]*sharedModule)}
		r.engines[limit] = e
	}
	m := e.modules[key]
	if m == nil {
		cm, err := e.wr.CompileModule(ctx, bin)
		if err != nil {
			if e.refs == 0 {
				_ = e.wr.Close(context.Background())
				delete(r.engines, limit)
			}
			return nil, key, nil, fmt.Errorf("compile: %w", err)
		}
		m = &sharedModule{cm: cm}
		e.modules[key] = m
	}
	m.refs++
	e.refs++
	return e.wr, key, m.cm, nil
}

func (r *Runtime) release(limit uint32, key [32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.engines[limit]
	if e == nil {
		return
	}
	if m := e.modules[key]; m != nil {
		if m.refs--; m.refs == 0 {
			_ = m.cm.Close(context.Background())
			delete(e.modules, key)
		}
	}
	if e.refs--; e.refs == 0 {
		_ = e.wr.Close(context.Background())
		delete(r.engines, limit)
	}
}
