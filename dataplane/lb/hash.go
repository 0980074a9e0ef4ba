package lb

import (
	"sort"
	"strconv"
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

// ringHash is a consistent-hash ring (Ketama style) with vnodes in
// proportion to weight; a host leaving moves only its own keys.
type ringHash struct {
	hosts  []Host
	hashes []uint64
	owner  []int32
}

const ringMinSize = 1024

func newRingHash(hosts []Host) Picker {
	r := &ringHash{hosts: hosts}
	total := 0
	for _, h := range hosts {
		total += h.Weight()
	}
	if total == 0 {
		return r
	}
	per := ringMinSize / total
	if per < 1 {
		per = 1
	}
	type vn struct {
		h uint64
		o int32
	}
	var vns []vn
	for i, h := range hosts {
		for k := 0; k < per*h.Weight(); k++ {
			vns = append(vns, vn{Hash64([]byte(strconv.Itoa(i) + "_" + strconv.Itoa(k))), int32(i)})
		}
	}
	sort.Slice(vns, func(a, b int) bool { return vns[a].h < vns[b].h })
	for _, v := range vns {
		r.hashes = append(r.hashes, v.h)
		r.owner = append(r.owner, v.o)
	}
	return r
}

func (r *ringHash) Pick(hash uint64) int {
	n := len(r.hashes)
	if n == 0 {
		return -1
	}
	i := sort.Search(n, func(i int) bool { return r.hashes[i] >= hash })
	for k := 0; k < n; k++ {
		o := int(r.owner[(i+k)%n])
		if r.hosts[o].Available() {
			return o
		}
	}
	return int(r.owner[i%n])
}

// maglev is Google's Maglev table: even spread, minimal disruption, O(1)
// pick. An unavailable host's slot is rehashed to the next choice.
type maglev struct {
	hosts []Host
	table []int32
}

const maglevSize = 65537 // prime, as the paper asks

func newMaglev(hosts []Host) Picker {
	m := &maglev{hosts: hosts}
	n := len(hosts)
	if n == 0 {
		return m
	}
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	maxW := 0
	for i, h := range hosts {
		name := []byte(strconv.Itoa(i))
		offset[i] = Hash64(append(name, 'o')) % maglevSize
		skip[i] = Hash64(append(name, 's'))%(maglevSize-1) + 1
		maxW = max(maxW, h.Weight())
	}
	table := make([]int32, maglevSize)
	for i := range table {
		table[i] = -1
	}
	filled := 0
	credit := make([]int, n)
	for filled < maglevSize {
		for i := 0; i < n && filled < maglevSize; i++ {
			credit[i] += hosts[i].Weight()
			if credit[i] < maxW {
				continue
			}
			credit[i] -= maxW
			for {
				c := (offset[i] + next[i]*skip[i]) % maglevSize
				next[i]++
				if table[c] < 0 {
					table[c] = int32(i)
					filled++
					break
				}
			}
		}
	}
	m.table = table
	return m
}

func (m *maglev) Pick(hash uint64) int {
	if len(m.table) == 0 {
		return -1
	}
	h := hash
	for range 8 {
		o := int(m.table[h%maglevSize])
		if m.hosts[o].Available() {
			return o
		}
		h = mix(h + 1)
	}
	return pickAvailable(m.hosts)
}
