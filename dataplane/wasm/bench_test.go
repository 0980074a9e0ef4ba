package wasm

import "testing"

// BenchmarkHostWAT is the host's own cost per request with a minimal guest
// (the WAT filter: one header read, one add, one remove).
func BenchmarkHostWAT(b *testing.B) {
	r := newTestRuntime(b)
	p := newTestPlugin(b, r, PluginConfig{Name: "bench-wat", Wasm: watModule(b, "abi_filter"), PoolSize: 1}, nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := p.NewStream(StreamInfo{})
		h := Headers{{":method", "GET"}, {":path", "/"}, {"x-remove-me", "1"}}
		if a := s.OnRequestHeaders(&h, true); a != Continue {
			b.Fatal(a)
		}
		s.Done()
	}
}

// BenchmarkHostGo is the same with a Go guest built with the SDK.
func BenchmarkHostGo(b *testing.B) {
	r := newTestRuntime(b)
	p := newTestPlugin(b, r, PluginConfig{Name: "bench-go", Wasm: goModule(b, "testdata/gofilter"), PoolSize: 1}, nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := p.NewStream(StreamInfo{})
		h := Headers{{":method", "GET"}, {":path", "/"}, {"x-mode", "alloc"}, {"x-alloc-bytes", "0"}}
		if a := s.OnRequestHeaders(&h, true); a != Continue {
			b.Fatal(a)
		}
		s.Done()
	}
}
