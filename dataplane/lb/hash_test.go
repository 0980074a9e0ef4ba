package lb

import (
	"slices"
	"strconv"
	"sync"
	"testing"
)

const refreshKeys = 20000

func keyHash(i int) uint64 { return Hash64([]byte("key-" + strconv.Itoa(i))) }

func mapping(p Picker) []int {
	out := make([]int, refreshKeys)
	for i := range out {
		out[i] = p.Pick(keyHash(i))
	}
	return out
}

func TestRefreshRebuildsOverAvailableHosts(t *testing.T) {
	tests := []struct {
		name    string
		policy  string
		weights []int
		down    []int
		// wantPanic: the table spans every host and picks ignore health.
		wantPanic bool
		// maxStayMoved bounds the share of keys of available hosts that
		// move (ring hash: none; Maglev: a little, as the paper says).
		maxStayMoved float64
		// minSpread is the least share of the down hosts' keys each
		// available host must take (no single neighbour takes them all).
		minSpread float64
	}{
		{"ring one of five down", "ring_hash", []int{1, 1, 1, 1, 1}, []int{3}, false, 0, 0.10},
		{"ring one of four down", "ring_hash", []int{1, 1, 1, 1}, []int{0}, false, 0, 0.15},
		{"ring weighted", "ring_hash", []int{1, 2, 1, 1}, []int{1}, false, 0, 0.15},
		{"ring half down is not panic", "ring_hash", []int{1, 1, 1, 1}, []int{0, 1}, false, 0, 0.30},
		{"maglev one of five down", "maglev", []int{1, 1, 1, 1, 1}, []int{3}, false, 0.01, 0.15},
		{"maglev one of four down", "maglev", []int{1, 1, 1, 1}, []int{0}, false, 0.01, 0.20},
		{"maglev weighted", "maglev", []int{1, 2, 1, 1}, []int{1}, false, 0.01, 0.20},
		{"maglev half down is not panic", "maglev", []int{1, 1, 1, 1}, []int{0, 1}, false, 0.01, 0.40},
		{"ring panic below half", "ring_hash", []int{1, 1, 1, 1, 1}, []int{0, 2, 4}, true, 0, 0},
		{"maglev panic below half", "maglev", []int{1, 1, 1, 1, 1}, []int{0, 2, 4}, true, 0, 0},
		{"ring panic all down", "ring_hash", []int{1, 1, 1}, []int{0, 1, 2}, true, 0, 0},
		{"maglev panic all down", "maglev", []int{1, 1, 1}, []int{0, 1, 2}, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, raw := hosts(tt.weights...)
			p, err := New(tt.policy, hs)
			if err != nil {
				t.Fatal(err)
			}
			if r := Refresh(p, DefaultPanicThreshold); r.Rebuilt || r.Panic {
				t.Fatalf("refresh with every host up: %+v, want no rebuild", r)
			}
			before := mapping(p)
			for _, d := range tt.down {
				raw[d].down.Store(true)
			}
			r := Refresh(p, DefaultPanicThreshold)
			if r.Panic != tt.wantPanic || r.Available != len(hs)-len(tt.down) || r.Total != len(hs) {
				t.Fatalf("refresh: %+v, want panic=%v", r, tt.wantPanic)
			}
			if again := Refresh(p, DefaultPanicThreshold); again.Rebuilt {
				t.Error("a second refresh with nothing changed rebuilt the table")
			}
			after := mapping(p)
			if tt.wantPanic {
				// Over every host, health ignored: the original mapping,
				// down hosts included.
				if !slices.Equal(before, after) {
					t.Error("panic table maps keys differently from the full table")
				}
			} else {
				checkMoves(t, before, after, raw, tt.maxStayMoved, tt.minSpread)
			}
			for _, d := range tt.down {
				raw[d].down.Store(false)
			}
			if r := Refresh(p, DefaultPanicThreshold); !r.Rebuilt || r.Panic {
				t.Fatalf("refresh after recovery: %+v", r)
			}
			if !slices.Equal(before, mapping(p)) {
				t.Error("after recovery the keys do not map back to their hosts")
			}
		})
	}
}

// checkMoves asserts minimal disruption: few (or no) keys of available
// hosts move, none lands on a down host, and the down hosts' keys spread
// over every available host.
func checkMoves(t *testing.T, before, after []int, raw []*host, maxStayMoved, minSpread float64) {
	t.Helper()
	stayed, stayMoved, orphans := 0, 0, 0
	took := make([]int, len(raw))
	for i := range before {
		if raw[after[i]].down.Load() {
			t.Fatalf("key %d picked down host %d", i, after[i])
		}
		if raw[before[i]].down.Load() {
			orphans++
			took[after[i]]++
			continue
		}
		stayed++
		if after[i] != before[i] {
			stayMoved++
		}
	}
	t.Logf("moved %d of %d kept keys; down hosts' keys went %v", stayMoved, stayed, took)
	if got := float64(stayMoved) / float64(stayed); got > maxStayMoved {
		t.Errorf("%.4f of the available hosts' keys moved, want at most %.4f", got, maxStayMoved)
	}
	if orphans == 0 {
		t.Fatal("the down hosts had no keys")
	}
	for i, n := range took {
		if raw[i].down.Load() {
			continue
		}
		if share := float64(n) / float64(orphans); share < minSpread {
			t.Errorf("host %d took %.3f of the down hosts' keys, want at least %.3f (spread %v)", i, share, minSpread, took)
		}
	}
}

func TestRefreshOnlyTouchesHashingPolicies(t *testing.T) {
	for _, policy := range Names() {
		hs, raw := hosts(1, 1, 1)
		p, _ := New(policy, hs)
		raw[0].down.Store(true)
		_, hashing := p.(Refresher)
		if r := Refresh(p, DefaultPanicThreshold); r.Rebuilt != hashing {
			t.Errorf("%s: refresh %+v, hashing policy %v", policy, r, hashing)
		}
	}
}

func TestStaleTableStillAvoidsDownHost(t *testing.T) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		hs, raw := hosts(1, 1, 1, 1)
		p, _ := New(policy, hs)
		Refresh(p, DefaultPanicThreshold)
		raw[2].down.Store(true) // no Refresh yet: the table still has host 2
		for i := range 2000 {
			if got := p.Pick(keyHash(i)); got == 2 {
				t.Fatalf("%s: stale table picked the down host", policy)
			}
		}
	}
}

func TestHashPickDoesNotAllocate(t *testing.T) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		hs, raw := hosts(1, 1, 2, 1)
		p, _ := New(policy, hs)
		raw[1].down.Store(true)
		Refresh(p, DefaultPanicThreshold)
		i := 0
		if n := testing.AllocsPerRun(1000, func() { p.Pick(keyHash(i)); i++ }); n != 0 {
			t.Errorf("%s: %v allocations per pick", policy, n)
		}
	}
}

// TestRefreshConcurrentWithPicks runs picks against rebuilds while hosts
// flap; under -race it checks that the swap is safe without locks on the
// pick path, and every pick returns a host.
func TestRefreshConcurrentWithPicks(t *testing.T) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		hs, raw := hosts(1, 1, 1, 1)
		p, _ := New(policy, hs)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if got := p.Pick(keyHash(i)); got < 0 || got >= len(hs) {
						t.Errorf("%s: pick %d", policy, got)
						return
					}
				}
			}()
		}
		for i := range 40 {
			raw[i%4].down.Store(i%3 == 0)
			Refresh(p, DefaultPanicThreshold)
		}
		close(stop)
		wg.Wait()
	}
}

// keyedHost is a host with an address, as meshd's are.
type keyedHost struct {
	host
	addr string
}

func (h *keyedHost) HashKey() string { return h.addr }

// TestHashPlacementFollowsAddressNotOrder checks a host keeps its keys when
// the list is reordered (exactly) or a host is added in the middle (ring:
// only keys the new host takes move; maglev: about its share).
func TestHashPlacementFollowsAddressNotOrder(t *testing.T) {
	list := func(addrs ...string) []Host {
		var hs []Host
		for _, a := range addrs {
			hs = append(hs, &keyedHost{host: host{w: 1}, addr: a})
		}
		return hs
	}
	owners := func(p Picker, hs []Host) []string {
		out := make([]string, refreshKeys)
		for i := range out {
			out[i] = hs[p.Pick(keyHash(i))].(*keyedHost).addr
		}
		return out
	}
	for _, policy := range []string{"ring_hash", "maglev"} {
		t.Run(policy, func(t *testing.T) {
			a := list("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80")
			b := list("10.0.0.3:80", "10.0.0.1:80", "10.0.0.4:80", "10.0.0.2:80")
			c := list("10.0.0.1:80", "10.0.0.2:80", "10.0.0.9:80", "10.0.0.3:80", "10.0.0.4:80")
			pa, _ := New(policy, a)
			pb, _ := New(policy, b)
			pc, _ := New(policy, c)
			oa, ob, oc := owners(pa, a), owners(pb, b), owners(pc, c)
			if !slices.Equal(oa, ob) {
				t.Error("reordering the endpoints moved keys")
			}
			moved, toNew := 0, 0
			for i := range oa {
				if oa[i] != oc[i] {
					moved++
					if oc[i] == "10.0.0.9:80" {
						toNew++
					}
				}
			}
			// The new host should take about a fifth; others barely move.
			if share := float64(toNew) / refreshKeys; share < 0.1 || share > 0.3 {
				t.Errorf("new host took %.2f of the keys, want about 0.2", share)
			}
			if stray := float64(moved-toNew) / refreshKeys; stray > 0.02 {
				t.Errorf("%.3f of the keys moved between old hosts, want < 0.02", stray)
			}
		})
	}
}

// TestPanicThresholdIsTheOwners checks the threshold a cluster sets decides
// panic mode: 0 only when every host is down, 100 as soon as one is.
func TestPanicThresholdIsTheOwners(t *testing.T) {
	tests := []struct {
		threshold, hosts, down int
		want                   bool
	}{
		{0, 5, 4, false},
		{0, 5, 5, true},
		{75, 4, 1, false},
		{75, 4, 2, true},
		{100, 4, 0, false},
		{100, 4, 1, true},
	}
	for _, tt := range tests {
		for _, policy := range []string{"ring_hash", "maglev"} {
			ws := make([]int, tt.hosts)
			for i := range ws {
				ws[i] = 1
			}
			hs, raw := hosts(ws...)
			p, _ := New(policy, hs)
			for i := range tt.down {
				raw[i].down.Store(true)
			}
			if r := Refresh(p, tt.threshold); r.Panic != tt.want {
				t.Errorf("%s, threshold %d%%, %d of %d down: panic %v, want %v", policy, tt.threshold, tt.down, tt.hosts, r.Panic, tt.want)
			}
		}
	}
}
