package lb

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Hash64 is FNV-1a over b, then a finalizer mix; used for request keys so
// that the same key picks the same host across meshd instances.
func Hash64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix(h)
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// DefaultPanicThreshold is the share of hosts, in percent, that must be
// available for Refresh to build a hashing table over the available hosts
// only, when the owner sets none. Below it the table spans every host and
// picks ignore health, as Envoy's healthy_panic_threshold (same 50%
// default) does: sending a key to a host that may be down beats piling
// every key onto the few that are up.
const DefaultPanicThreshold = 50

// Refresher is implemented by pickers that precompute a table over the
// available hosts (ring_hash, maglev). Their owner calls Refresh whenever
// a host's availability may have changed; the new table is built aside
// and swapped in atomically, so picks never wait for it.
type Refresher interface {
	// Refresh rebuilds over the available hosts, or over all of them when
	// fewer than panicPercent percent are available (0: only when none is).
	Refresh(panicPercent int) Refreshed
}

// Refreshed says what a Refresh did, so the owner can log the transitions
// an operator cares about (entering or leaving panic mode).
type Refreshed struct {
	// Rebuilt is false when the available set had not changed.
	Rebuilt bool
	// Panic is true when too few hosts were available and the table spans
	// every host.
	Panic bool
	// Available and Total count the hosts seen by this refresh.
	Available, Total int
}

// Refresh rebuilds p's table over the hosts available now if p keeps one;
// for other pickers, which read availability on every pick, it does
// nothing. It is safe to call from any goroutine but does the rebuild on
// the caller's, so callers on the request path should hand it off.
func Refresh(p Picker, panicPercent int) Refreshed {
	if r, ok := p.(Refresher); ok {
		return r.Refresh(panicPercent)
	}
	return Refreshed{}
}

// hashTable is what a hashing picker swaps on Refresh.
type hashTable[T any] struct {
	// members[i] is true when host i is in the table.
	members []bool
	// anyHealth is true for a panic table (every host, health ignored).
	anyHealth bool
	data      T
}

// HashKeyer is implemented by hosts with a stable identity, such as an
// address. The hashing policies place a host by its key, so an endpoint
// keeps its keys when a registry, xDS or a reload lists the endpoints in
// another order or adds one in the middle, as Envoy's ring does. Hosts
// without it are placed by their index in the list.
type HashKeyer interface {
	HashKey() string
}

// hostKeys returns each host's placement key: its HashKey, or its index;
// a key seen before (the same address listed twice) gets the index added,
// so every host keeps its own vnodes.
func hostKeys(hosts []Host) []string {
	keys := make([]string, len(hosts))
	seen := make(map[string]bool, len(hosts))
	for i, h := range hosts {
		k := strconv.Itoa(i)
		if hk, ok := h.(HashKeyer); ok {
			k = hk.HashKey()
		}
		if seen[k] {
			k += "#" + strconv.Itoa(i)
		}
		seen[k] = true
		keys[i] = k
	}
	return keys
}

// tableKeeper holds a hashing picker's current table and rebuilds it.
// A picker that is never refreshed keeps the table New built over every
// host and steps over unavailable hosts at pick time, which is what the
// client SDK (whose breakers change state with time) relies on.
type tableKeeper[T any] struct {
	hosts []Host
	// keys place each host on the ring or in the Maglev permutation; see
	// HashKeyer.
	keys  []string
	cur   atomic.Pointer[hashTable[T]]
	mu    sync.Mutex // serializes rebuilds
	build func(members []bool) T
}

func (k *tableKeeper[T]) init(hosts []Host, build func(members []bool) T) {
	k.hosts, k.build, k.keys = hosts, build, hostKeys(hosts)
	all := make([]bool, len(hosts))
	for i := range all {
		all[i] = true
	}
	k.cur.Store(&hashTable[T]{members: all, data: build(all)})
}

// Refresh implements Refresher.
func (k *tableKeeper[T]) Refresh(panicPercent int) Refreshed {
	k.mu.Lock()
	defer k.mu.Unlock()
	members := make([]bool, len(k.hosts))
	n := 0
	for i, h := range k.hosts {
		if h.Available() {
			members[i] = true
			n++
		}
	}
	res := Refreshed{Available: n, Total: len(k.hosts)}
	if n*100 < panicPercent*len(k.hosts) || n == 0 {
		res.Panic = true
		for i := range members {
			members[i] = true
		}
	}
	cur := k.cur.Load()
	if cur.anyHealth == res.Panic && slices.Equal(cur.members, members) {
		return res
	}
	res.Rebuilt = true
	k.cur.Store(&hashTable[T]{members: members, anyHealth: res.Panic, data: k.build(members)})
	return res
}

// ringHash is a consistent-hash ring (Ketama style) with vnodes in
// proportion to weight; a host leaving moves only its own keys, and they
// spread over the hosts whose vnodes follow its own.
type ringHash struct {
	tableKeeper[ring]
	per int // vnodes per unit of weight (ringVnodes)
}

type ring struct {
	hashes []uint64
	owner  []int32
}

// ringVnodes is the number of ring points per unit of weight. It is fixed,
// not derived from the cluster's total weight, so adding or removing a
// host moves only the keys that host takes or gives up (a size scaled to
// the total would reshuffle every host's points). 160 is ketama's number:
// four hosts get 640 points, a spread within a few percent.
const ringVnodes = 160

func newRingHash(hosts []Host) Picker {
	r := &ringHash{per: ringVnodes}
	r.init(hosts, r.buildRing)
	return r
}

// buildRing places the vnodes of the member hosts. A vnode's position
// depends only on its host's index and number, so a host leaving or
// joining moves no other host's vnodes.
func (r *ringHash) buildRing(members []bool) ring {
	type vn struct {
		h uint64
		o int32
	}
	var vns []vn
	for i, h := range r.hosts {
		if !members[i] {
			continue
		}
		for k := 0; k < r.per*h.Weight(); k++ {
			vns = append(vns, vn{Hash64([]byte(r.keys[i] + "_" + strconv.Itoa(k))), int32(i)})
		}
	}
	slices.SortFunc(vns, func(a, b vn) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(a.o - b.o)
	})
	out := ring{hashes: make([]uint64, len(vns)), owner: make([]int32, len(vns))}
	for i, v := range vns {
		out.hashes[i], out.owner[i] = v.h, v.o
	}
	return out
}

func (r *ringHash) Pick(hash uint64) int {
	t := r.cur.Load()
	hs, owner := t.data.hashes, t.data.owner
	n := len(hs)
	if n == 0 {
		return -1
	}
	// First vnode at or after hash (sort.Search without the closure).
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if hs[m] < hash {
			lo = m + 1
		} else {
			hi = m
		}
	}
	o := int(owner[lo%n])
	if t.anyHealth || r.hosts[o].Available() {
		return o
	}
	// The table is stale (not refreshed yet, or never): walk on.
	for k := 1; k < n; k++ {
		if o := int(owner[(lo+k)%n]); r.hosts[o].Available() {
			return o
		}
	}
	return o
}

// maglev is Google's Maglev table: even spread, minimal disruption, O(1)
// pick. Refresh rebuilds it over the available hosts; each host keeps its
// own permutation, so most slots keep their host.
type maglev struct {
	tableKeeper[[]int32]
}

const maglevSize = 65537 // prime, as the paper asks

func newMaglev(hosts []Host) Picker {
	m := &maglev{}
	m.init(hosts, m.buildTable)
	return m
}

// buildTable fills the table from the member hosts' permutations, in
// proportion to weight. A host's permutation depends only on its index.
func (m *maglev) buildTable(members []bool) []int32 {
	var idx []int
	maxW := 0
	for i, h := range m.hosts {
		if members[i] {
			idx = append(idx, i)
			maxW = max(maxW, h.Weight())
		}
	}
	n := len(idx)
	if n == 0 {
		return nil
	}
	// Fill in key order, so the table does not depend on list order.
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(m.keys[a], m.keys[b]) })
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	for j, i := range idx {
		name := []byte(m.keys[i])
		offset[j] = Hash64(append(name, 'o')) % maglevSize
		skip[j] = Hash64(append(name, 's'))%(maglevSize-1) + 1
	}
	table := make([]int32, maglevSize)
	for i := range table {
		table[i] = -1
	}
	filled := 0
	credit := make([]int, n)
	for filled < maglevSize {
		for j := 0; j < n && filled < maglevSize; j++ {
			credit[j] += m.hosts[idx[j]].Weight()
			if credit[j] < maxW {
				continue
			}
			credit[j] -= maxW
			for {
				c := (offset[j] + next[j]*skip[j]) % maglevSize
				next[j]++
				if table[c] < 0 {
					table[c] = int32(idx[j])
					filled++
					break
				}
			}
		}
	}
	return table
}

func (m *maglev) Pick(hash uint64) int {
	t := m.cur.Load()
	if len(t.data) == 0 {
		return -1
	}
	o := int(t.data[hash%maglevSize])
	if t.anyHealth || m.hosts[o].Available() {
		return o
	}
	// The table is stale (not refreshed yet, or never): rehash a few times.
	h := hash
	for range 8 {
		h = mix(h + 1)
		if o := int(t.data[h%maglevSize]); m.hosts[o].Available() {
			return o
		}
	}
	return pickAvailable(m.hosts)
}
