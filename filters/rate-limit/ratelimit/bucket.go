package ratelimit

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
)

// A bucket lives in one slot of a fixed table in shared data. Every slot is
// created when the plugin starts (VMs start one after another), so a request
// only ever updates an existing slot with compare-and-swap: two VMs can
// never both "create" a bucket and lose an update.
//
// Slot value (24 bytes, little-endian): key hash (0 = free), tokens in
// thousandths, last refill time in ns.
type slot struct {
	hash   uint64
	tokens int64
	last   int64
}

const slotSize = 24

func (s slot) encode() []byte {
	b := make([]byte, slotSize)
	binary.LittleEndian.PutUint64(b, s.hash)
	binary.LittleEndian.PutUint64(b[8:], uint64(s.tokens))
	binary.LittleEndian.PutUint64(b[16:], uint64(s.last))
	return b
}

func decodeSlot(b []byte) (slot, bool) {
	if len(b) != slotSize {
		return slot{}, false
	}
	return slot{
		hash:   binary.LittleEndian.Uint64(b),
		tokens: int64(binary.LittleEndian.Uint64(b[8:])),
		last:   int64(binary.LittleEndian.Uint64(b[16:])),
	}, true
}

func hashKey(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	v := h.Sum64()
	if v == 0 {
		v = 1
	}
	return v
}

func slotName(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// refill adds the tokens earned since s.last, capped at burst.
func (s *slot) refill(now int64, l *localConfig) {
	if s.last == 0 || now < s.last {
		s.last = now
		return
	}
	elapsed := now - s.last
	// thousandths of a token per ns = requests*1000 / (per_seconds*1e9)
	add := elapsed * l.Requests / l.PerSeconds / 1000000
	if add <= 0 {
		return
	}
	s.tokens += add
	s.last = now
	if max := l.Burst * 1000; s.tokens >= max {
		s.tokens = max
	}
}

// full reports whether the bucket refilled completely (an idle client whose
// slot may be taken over).
func (s *slot) full(now int64, l *localConfig) bool {
	c := *s
	c.refill(now, l)
	return c.tokens >= l.Burst*1000
}
