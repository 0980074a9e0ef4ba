package wasm

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapAllocator backs each VM's linear memory with its own anonymous
// mapping instead of a Go slice. wazero's default grows a slice by
// appending, which copies the whole memory and leaves the old copy as
// garbage in meshd's heap at every memory.grow of a Go guest; the mapping
// reserves the maximum once (address space only), grows in place, and is
// unmapped when the VM closes, so the pages go back to the system at once
// instead of at the host's next GC and scavenge.
var mmapAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(newMmapMemory)

const osPage = 64 << 10 // wasm page; a multiple of every host page size

type mmapMemory struct {
	buf       []byte // the whole reservation
	committed uint64 // readable and writable prefix
}

func newMmapMemory(capacity, max uint64) experimental.LinearMemory {
	if max == 0 {
		max = osPage
	}
	max = (max + osPage - 1) &^ (osPage - 1)
	buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return &sliceMemory{max: max}
	}
	return &mmapMemory{buf: buf}
}

// Reallocate makes the first size bytes usable, in place; it returns nil
// when the system refuses (the guest sees memory.grow fail).
func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	if size > m.committed {
		end := (size + osPage - 1) &^ (osPage - 1)
		if err := syscall.Mprotect(m.buf[m.committed:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.committed = end
	}
	return m.buf[:size:size]
}

// Free unmaps the memory; wazero calls it once, when the module closes.
func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf, m.committed = nil, 0
	}
}

// sliceMemory is the fallback when mmap fails: a Go slice, as wazero's
// default allocator does.
type sliceMemory struct {
	buf []byte
	max uint64
}

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size > uint64(cap(m.buf)) {
		nb := make([]byte, size)
		copy(nb, m.buf)
		m.buf = nb
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *sliceMemory) Free() { m.buf = nil }
