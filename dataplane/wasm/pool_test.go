package wasm

import (
	"testing"
	"time"
)

// liveVMs counts the pool's slots holding a live VM.
func liveVMs(p *Plugin) int {
	n := 0
	for i := range p.slots {
		if v := p.slots[i].Load(); v != nil && !v.dead.Load() {
			n++
		}
	}
	return n
}

// grown grows p's pool by one VM and waits for it to start.
func grown(t *testing.T, p *Plugin) {
	t.Helper()
	want := liveVMs(p) + 1
	p.grow()
	for deadline := time.Now().Add(30 * time.Second); p.growing.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the new VM never started")
		}
		time.Sleep(time.Millisecond)
	}
	if got := liveVMs(p); got != want {
		t.Fatalf("pool grew to %d VMs, want %d", got, want)
	}
}

// TestPoolShrinksIdleVMs checks that shrink closes a VM beyond MinVMs once
// it has taken no stream for a whole round and has none in flight, and
// never goes below MinVMs. shrink is called directly (IdleTimeout < 0
// stops the background reaper) so the test does not depend on timing.
func TestPoolShrinksIdleVMs(t *testing.T) {
	bin := watModule(t, "abi_filter")
	tests := []struct {
		name      string
		minVMs    int
		openOnNew bool // a stream stays open on the grown VM
		want      int  // live VMs after the rounds
	}{
		{"idle VM closed", 1, false, 1},
		{"VM with an open stream kept", 1, true, 1},
		{"MinVMs kept", 2, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRuntime(t)
			p := newTestPlugin(t, r, PluginConfig{Name: "pool", Wasm: bin, PoolSize: 3, MinVMs: tt.minVMs, IdleTimeout: -1}, nil)
			if liveVMs(p) < 2 {
				grown(t, p)
			}
			var open *Stream
			if tt.openOnNew {
				v0 := p.slots[0].Load()
				v0.mu.Lock() // busy: the stream goes to the other VM
				open = p.NewStream(StreamInfo{})
				v0.mu.Unlock()
				if open.v == v0 {
					t.Fatal("stream was bound to the busy VM")
				}
			}
			for range 3 { // a grown VM survives its first round
				p.shrink()
			}
			if got := liveVMs(p); got != tt.want {
				t.Fatalf("live VMs = %d, want %d", got, tt.want)
			}
			if got := p.counters.vms.Load(); got != int64(tt.want) {
				t.Errorf("meshd_wasm_vms = %d, want %d", got, tt.want)
			}
			if open != nil {
				if a := open.OnRequestHeaders(reqHeaders(), true); a != Continue {
					t.Errorf("open stream after shrink: %v", a)
				}
				if open.v.dead.Load() {
					t.Error("the VM with an open stream was closed")
				}
				open.Done()
			}
			s := p.NewStream(StreamInfo{})
			defer s.Done()
			if a := s.OnRequestHeaders(reqHeaders(), true); a != Continue {
				t.Fatalf("request after shrink: %v", a)
			}
		})
	}
}

// TestPoolReaperRuns checks that the background reaper shrinks a grown
// pool back to MinVMs, and that the pool grows again afterwards.
func TestPoolReaperRuns(t *testing.T) {
	r := newTestRuntime(t)
	p := newTestPlugin(t, r, PluginConfig{Name: "reaper", Wasm: watModule(t, "abi_filter"), PoolSize: 2, IdleTimeout: time.Second}, nil)
	grown(t, p)
	for deadline := time.Now().Add(30 * time.Second); liveVMs(p) != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("idle VM never closed: %d live", liveVMs(p))
		}
		time.Sleep(10 * time.Millisecond)
	}
	grown(t, p)
}
