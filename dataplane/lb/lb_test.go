package lb

import (
	"math"
	"strconv"
	"sync/atomic"
	"testing"
)

type host struct {
	w      int
	down   atomic.Bool
	active atomic.Int64
}

func (h *host) Weight() int           { return h.w }
func (h *host) Available() bool       { return !h.down.Load() }
func (h *host) ActiveRequests() int64 { return h.active.Load() }

func hosts(ws ...int) ([]Host, []*host) {
	var hs []Host
	var raw []*host
	for _, w := range ws {
		h := &host{w: w}
		hs = append(hs, h)
		raw = append(raw, h)
	}
	return hs, raw
}

func TestDistribution(t *testing.T) {
	tests := []struct {
		policy  string
		weights []int
		down    []int
		hashed  bool
		want    []float64 // expected share per host
		tol     float64
	}{
		{"round_robin", []int{1, 1, 2}, nil, false, []float64{.25, .25, .5}, 0.001},
		{"weighted", []int{1, 3}, nil, false, []float64{.25, .75}, 0.001},
		{"round_robin", []int{1, 1, 2}, []int{2}, false, []float64{.5, .5, 0}, 0.001},
		{"random", []int{1, 1, 2}, nil, false, []float64{.25, .25, .5}, 0.02},
		{"random", []int{1, 1, 1}, []int{0}, false, []float64{0, .5, .5}, 0.02},
		{"least_request", []int{1, 1, 1, 1}, nil, false, []float64{.25, .25, .25, .25}, 0.02},
		{"least_request", []int{1, 1, 1}, []int{1}, false, []float64{.5, 0, .5}, 0.02},
		{"ring_hash", []int{1, 1, 1, 1}, nil, true, []float64{.25, .25, .25, .25}, 0.08},
		{"ring_hash", []int{1, 1, 1}, []int{0}, true, []float64{0, .5, .5}, 0.12},
		{"maglev", []int{1, 1, 1, 1}, nil, true, []float64{.25, .25, .25, .25}, 0.02},
		{"maglev", []int{1, 3}, nil, true, []float64{.25, .75}, 0.02},
		{"maglev", []int{1, 1, 1}, []int{2}, true, []float64{.5, .5, 0}, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.policy+"/"+strconv.Itoa(len(tt.weights)), func(t *testing.T) {
			hs, raw := hosts(tt.weights...)
			for _, d := range tt.down {
				raw[d].down.Store(true)
			}
			p, err := New(tt.policy, hs)
			if err != nil {
				t.Fatal(err)
			}
			const n = 40000
			counts := make([]int, len(hs))
			for i := 0; i < n; i++ {
				var h uint64
				if tt.hashed {
					h = Hash64([]byte("user-" + strconv.Itoa(i)))
				}
				counts[p.Pick(h)]++
			}
			for i, c := range counts {
				got := float64(c) / n
				if math.Abs(got-tt.want[i]) > tt.tol {
					t.Errorf("host %d share %.3f, want %.3f±%.3f (counts %v)", i, got, tt.want[i], tt.tol, counts)
				}
			}
		})
	}
}

func TestSmoothWRRInterleaves(t *testing.T) {
	hs, _ := hosts(1, 1, 2)
	p, _ := New("round_robin", hs)
	var seq []int
	for range 8 {
		seq = append(seq, p.Pick(0))
	}
	// Each cycle of 4 gives the hosts 1, 1 and 2 picks, with the heavy
	// host's two picks apart (smooth, not bursty): nginx yields 2 0 1 2.
	want := []int{2, 0, 1, 2, 2, 0, 1, 2}
	for i := range want {
		if seq[i] != want[i] {
			t.Fatalf("sequence %v, want %v", seq, want)
		}
	}
}

func TestHashingIsSticky(t *testing.T) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		hs, raw := hosts(1, 1, 1, 1, 1)
		p, _ := New(policy, hs)
		keys := make([]int, 1000)
		for i := range keys {
			keys[i] = p.Pick(Hash64([]byte("k" + strconv.Itoa(i))))
			if again := p.Pick(Hash64([]byte("k" + strconv.Itoa(i)))); again != keys[i] {
				t.Fatalf("%s: same key picked %d then %d", policy, keys[i], again)
			}
		}
		// Taking one host down moves only that host's keys.
		raw[3].down.Store(true)
		moved := 0
		for i := range keys {
			now := p.Pick(Hash64([]byte("k" + strconv.Itoa(i))))
			if now == 3 {
				t.Fatalf("%s: picked the down host", policy)
			}
			if keys[i] != 3 && now != keys[i] {
				moved++
			}
		}
		if moved != 0 {
			t.Errorf("%s: %d keys of healthy hosts moved", policy, moved)
		}
	}
}

func TestLeastRequestPrefersIdle(t *testing.T) {
	hs, raw := hosts(1, 1)
	raw[0].active.Store(100)
	p, _ := New("least_request", hs)
	idle := 0
	for range 1000 {
		if p.Pick(0) == 1 {
			idle++
		}
	}
	// Two choices: when the two picks differ the idle host always wins.
	if idle < 700 {
		t.Errorf("idle host picked %d/1000 times", idle)
	}
}

func TestPanicModeWhenAllDown(t *testing.T) {
	for _, policy := range Names() {
		hs, raw := hosts(1, 1)
		raw[0].down.Store(true)
		raw[1].down.Store(true)
		p, _ := New(policy, hs)
		if i := p.Pick(Hash64([]byte("x"))); i < 0 || i > 1 {
			t.Errorf("%s: pick %d with all hosts down", policy, i)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, policy := range Names() {
		b.Run(policy, func(b *testing.B) {
			hs, _ := hosts(1, 1, 2, 1, 1)
			p, _ := New(policy, hs)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p.Pick(uint64(i) * 0x9e3779b97f4a7c15)
			}
		})
	}
}

// BenchmarkPickOneDown is the hashing policies' pick with one host out of
// the table (refreshed) or, for comparison, still in it (stale: the pick
// steps over it).
func BenchmarkPickOneDown(b *testing.B) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		for _, refreshed := range []bool{true, false} {
			name := policy + "/stale"
			if refreshed {
				name = policy + "/refreshed"
			}
			b.Run(name, func(b *testing.B) {
				hs, raw := hosts(1, 1, 2, 1, 1)
				p, _ := New(policy, hs)
				raw[2].down.Store(true)
				if refreshed {
					Refresh(p, DefaultPanicThreshold)
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					p.Pick(uint64(i) * 0x9e3779b97f4a7c15)
				}
			})
		}
	}
}

// BenchmarkRefresh is the cost of one rebuild (off the request path): a
// host flaps, so every iteration builds a new table.
func BenchmarkRefresh(b *testing.B) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		b.Run(policy, func(b *testing.B) {
			hs, raw := hosts(1, 1, 2, 1, 1)
			p, _ := New(policy, hs)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				raw[2].down.Store(i%2 == 0)
				Refresh(p, DefaultPanicThreshold)
			}
		})
	}
}
