package wasm

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReloadUnderLoad reloads a filter 20 times (10 by rewriting its file,
// 10 by a settings change) and once with a broken module while 4 clients
// send requests: no request fails and every request is filtered.
func TestReloadUnderLoad(t *testing.T) {
	r := newTestRuntime(t)
	bin := watModule(t, "abi_filter")
	path := filepath.Join(t.TempDir(), "f.wasm")
	if err := os.WriteFile(path, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := PluginConfig{Name: "reload", WasmPath: path, PoolSize: 2}
	rl, err := r.NewReloader(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() { watchDone <- rl.Watch(ctx) }()

	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := rl.Plugin().NewStream(StreamInfo{})
				h := reqHeaders()
				a := s.OnRequestHeaders(h, true)
				s.Done()
				if v, _ := h.Get("x-wat-seen"); a != Continue || v != "1" {
					failed.Add(1)
				} else {
					served.Add(1)
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := 0; i < 10; i++ {
		before := rl.Plugin()
		// Write until the watcher (which may still be starting) sees it.
		deadline := time.Now().Add(10 * time.Second)
		for rl.Plugin() == before {
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for a file reload")
			}
			if err := os.WriteFile(path, bin, 0o644); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < 100 && rl.Plugin() == before; j++ {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	for i := 0; i < 10; i++ {
		c := cfg
		c.Config = []byte{'v', byte('0' + i)}
		if err := rl.Reload(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	// A broken module is rejected; the current version keeps serving.
	if err := rl.Reload(context.Background(), PluginConfig{Name: "reload", Wasm: []byte("garbage")}); err == nil {
		t.Fatal("broken module accepted")
	}
	tmp := path + ".tmp"
	os.WriteFile(tmp, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	os.Rename(tmp, path) // an atomic replace with a module lacking the ABI
	waitFor("the rejected file reload", func() bool { return rl.Failures.Load() >= 2 })
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	cancel()
	<-watchDone
	if err := rl.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rl.Reloads.Load(); got < 20 {
		t.Fatalf("reloads = %d, want at least 20", got)
	}
	if failed.Load() != 0 || served.Load() == 0 {
		t.Fatalf("served %d, failed %d", served.Load(), failed.Load())
	}
	t.Logf("served %d requests across 20 reloads", served.Load())
}
