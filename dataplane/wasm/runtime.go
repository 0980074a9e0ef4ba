package wasm

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tetratelabs/wazero"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/shared"
)

// Runtime is the process-wide part of the host. Plugins built from one
// Runtime share its compilation cache, shared data, queues, metrics and
// foreign functions, which is what lets a reloaded plugin keep its state.
type Runtime struct {
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
	r := &Runtime{cfg: cfg, log: cfg.Logger, data: shared.NewData(), queues: shared.NewQueues(), metrics: newMetrics()}
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

// Close releases the compilation cache. Close every Plugin first.
func (r *Runtime) Close(ctx context.Context) error {
	return r.cache.Close(ctx)
}

// SharedData returns a shared-data value as guests see it under vmID (a
// plugin's VMID, or its Name by default), for the admin API and tests.
func (r *Runtime) SharedData(vmID, key string) (value []byte, cas uint32, ok bool) {
	return r.data.Get(vmID, key)
}
