package wasm

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reloader holds the current version of one plugin and replaces it when its
// .wasm file changes (Watch) or its settings change (Reload). A new version
// is compiled, instantiated and configured before it is swapped in; one that
// fails is rejected and the old version keeps serving. The old version
// finishes its streams in flight, then closes.
//
// The data plane takes Plugin() once at the start of a request and uses it
// to the end.
type Reloader struct {
	rt    *Runtime
	host  Host
	cur   atomic.Pointer[Plugin]
	mu    sync.Mutex // serializes reloads
	cfg   PluginConfig
	grace time.Duration
	wg    sync.WaitGroup

	// Reloads and Failures count successful and rejected reloads.
	Reloads, Failures atomic.Int64
}

// NewReloader builds the first version of the plugin.
func (r *Runtime) NewReloader(ctx context.Context, cfg PluginConfig, host Host) (*Reloader, error) {
	p, err := r.NewPlugin(ctx, cfg, host)
	if err != nil {
		return nil, err
	}
	rl := &Reloader{rt: r, host: host, cfg: cfg, grace: 30 * time.Second}
	rl.cur.Store(p)
	return rl, nil
}

// Plugin returns the current version.
func (rl *Reloader) Plugin() *Plugin { return rl.cur.Load() }

// Reload builds a new version from cfg (the module re-read from disk) and
// swaps it in; on error the current version stays and the error is returned.
func (rl *Reloader) Reload(ctx context.Context, cfg PluginConfig) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	p, err := rl.rt.NewPlugin(ctx, cfg, rl.host)
	if err != nil {
		rl.Failures.Add(1)
		rl.rt.log.Error("wasm plugin reload rejected; the old version keeps serving", "plugin", cfg.Name, "err", err)
		return fmt.Errorf("wasm: reload %s: %w", cfg.Name, err)
	}
	rl.cfg = cfg
	old := rl.cur.Swap(p)
	rl.Reloads.Add(1)
	rl.wg.Add(1)
	go func() {
		defer rl.wg.Done()
		cctx, cancel := context.WithTimeout(context.Background(), rl.grace)
		defer cancel()
		_ = old.Retire(cctx, p)
	}()
	return nil
}

// Watch reloads the plugin whenever its WasmPath file is written or
// replaced (an atomic rename included), until ctx ends. Changes are
// debounced by 100ms so a file being written is read once, complete.
func (rl *Reloader) Watch(ctx context.Context) error {
	rl.mu.Lock()
	path := rl.cfg.WasmPath
	rl.mu.Unlock()
	if path == "" {
		return fmt.Errorf("wasm: watch: plugin %s has no WasmPath", rl.cfg.Name)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("wasm: watch: %w", err)
	}
	defer w.Close()
	abs, _ := filepath.Abs(path)
	if err := w.Add(filepath.Dir(abs)); err != nil { // the directory survives renames
		return fmt.Errorf("wasm: watch %s: %w", path, err)
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case ev := <-w.Events:
			if evAbs, _ := filepath.Abs(ev.Name); evAbs != abs || !ev.Has(fsnotify.Write|fsnotify.Create|fsnotify.Rename) {
				continue
			}
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(100*time.Millisecond, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case <-fire:
			rl.mu.Lock()
			cfg := rl.cfg
			rl.mu.Unlock()
			cfg.Wasm = nil
			_ = rl.Reload(ctx, cfg) // logged and counted; the old version stays
		case err := <-w.Errors:
			rl.rt.log.Warn("wasm watch error", "path", path, "err", err)
		}
	}
}

// Close closes the current version and waits for retired ones.
func (rl *Reloader) Close(ctx context.Context) error {
	err := rl.cur.Load().Close(ctx)
	rl.wg.Wait()
	return err
}
