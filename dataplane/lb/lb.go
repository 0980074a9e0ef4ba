package lb

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
)

// Host is what a policy needs to know of an endpoint. The upstream package
// implements it with atomics, so these calls are cheap on the hot path.
type Host interface {
	// Weight is the configured weight, at least 1.
	Weight() int
	// Available is false while the host fails active health checks or is
	// ejected by outlier detection.
	Available() bool
	// ActiveRequests counts requests in flight to the host.
	ActiveRequests() int64
}

// Picker chooses a host for one request. hash is used by hashing policies
// (ring_hash, maglev) and ignored by the others. It returns -1 only when
// there are no hosts at all. When no host is available it picks among all
// hosts (Envoy's panic mode), since refusing every request is worse than
// trying; the hashing policies, once refreshed, enter panic mode below
// their panic threshold already. Pick must not block or allocate: it is on
// every request.
type Picker interface {
	Pick(hash uint64) int
}

// Builder makes a picker for a fixed host list.
type Builder func(hosts []Host) Picker

var (
	mu       sync.RWMutex
	registry = map[string]Builder{}
)

// Register adds a policy under name. It is meant for init functions.
func Register(name string, b Builder) {
	mu.Lock()
	defer mu.Unlock()
	registry[name] = b
}

// Names lists the registered policies.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New builds the named policy over hosts.
func New(name string, hosts []Host) (Picker, error) {
	mu.RLock()
	b, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("lb: unknown policy %q", name)
	}
	return b(hosts), nil
}

func init() {
	Register("round_robin", newSmoothWRR)
	Register("weighted", newSmoothWRR)
	Register("least_request", newLeastRequest)
	Register("random", newRandom)
	Register("ring_hash", newRingHash)
	Register("maglev", newMaglev)
}

func anyAvailable(hosts []Host) bool {
	for _, h := range hosts {
		if h.Available() {
			return true
		}
	}
	return false
}

// smoothWRR is nginx's smooth weighted round-robin: with weights 1,1,2 it
// yields c a b c, spreading the heavy host instead of bursting it.
type smoothWRR struct {
	mu      sync.Mutex
	hosts   []Host
	current []int
}

func newSmoothWRR(hosts []Host) Picker {
	return &smoothWRR{hosts: hosts, current: make([]int, len(hosts))}
}

func (p *smoothWRR) Pick(uint64) int {
	if len(p.hosts) == 0 {
		return -1
	}
	panicMode := !anyAvailable(p.hosts)
	p.mu.Lock()
	best, total := -1, 0
	for i, h := range p.hosts {
		if !panicMode && !h.Available() {
			continue
		}
		w := h.Weight()
		p.current[i] += w
		total += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	if best >= 0 {
		p.current[best] -= total
	}
	p.mu.Unlock()
	return best
}

// leastRequest is power-of-two-choices: two random available hosts, the
// one with fewer requests in flight per unit of weight wins.
type leastRequest struct{ hosts []Host }

func newLeastRequest(hosts []Host) Picker { return &leastRequest{hosts: hosts} }

func (p *leastRequest) Pick(uint64) int {
	n := len(p.hosts)
	switch n {
	case 0:
		return -1
	case 1:
		return 0
	}
	a := pickAvailable(p.hosts)
	b := pickAvailable(p.hosts)
	if a == b && n > 1 {
		b = pickAvailable(p.hosts)
	}
	ha, hb := p.hosts[a], p.hosts[b]
	// Compare active/weight without division.
	if (ha.ActiveRequests()+1)*int64(hb.Weight()) <= (hb.ActiveRequests()+1)*int64(ha.Weight()) {
		return a
	}
	return b
}

// pickAvailable picks a random available host, a few tries before a scan.
func pickAvailable(hosts []Host) int {
	n := len(hosts)
	for range 4 {
		i := rand.IntN(n)
		if hosts[i].Available() {
			return i
		}
	}
	start := rand.IntN(n)
	for k := range n {
		if i := (start + k) % n; hosts[i].Available() {
			return i
		}
	}
	return rand.IntN(n)
}

// random picks in proportion to weight among available hosts.
type random struct {
	hosts []Host
	total int
}

func newRandom(hosts []Host) Picker {
	t := 0
	for _, h := range hosts {
		t += h.Weight()
	}
	return &random{hosts: hosts, total: t}
}

func (p *random) Pick(uint64) int {
	if len(p.hosts) == 0 {
		return -1
	}
	for range 8 {
		r := rand.IntN(p.total)
		for i, h := range p.hosts {
			r -= h.Weight()
			if r < 0 {
				if h.Available() {
					return i
				}
				break
			}
		}
	}
	return pickAvailable(p.hosts)
}
