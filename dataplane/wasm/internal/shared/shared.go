// Package shared holds the host-wide state that outlives one VM and one
// plugin version: key/value shared data with compare-and-swap, and shared
// queues. It is keyed by a namespace (the plugin's vm_id) so all VMs of a
// plugin, and the next version of the plugin after a reload, see one store.
package shared

import (
	"sync"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/abi"
)

type entry struct {
	value []byte
	cas   uint32
}

// Data is a namespaced key/value store with compare-and-swap.
type Data struct {
	mu   sync.RWMutex
	m    map[string]*entry
	next uint32
}

// NewData returns an empty store.
func NewData() *Data { return &Data{m: make(map[string]*entry)} }

func nsKey(ns, key string) string { return ns + "\x00" + key }

// Get returns a copy of the value and its cas token.
func (d *Data) Get(ns, key string) ([]byte, uint32, bool) {
	d.mu.RLock()
	e, ok := d.m[nsKey(ns, key)]
	if !ok {
		d.mu.RUnlock()
		return nil, 0, false
	}
	v := append([]byte(nil), e.value...)
	cas := e.cas
	d.mu.RUnlock()
	return v, cas, true
}

// Set stores value. A non-zero cas must equal the current token, else
// StatusCasMismatch; a cas of zero stores unconditionally. Every store gets a
// fresh token.
func (d *Data) Set(ns, key string, value []byte, cas uint32) abi.Status {
	k := nsKey(ns, key)
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[k]
	if ok && cas != 0 && cas != e.cas {
		return abi.StatusCasMismatch
	}
	if !ok && cas != 0 {
		return abi.StatusCasMismatch
	}
	d.next++
	if d.next == 0 {
		d.next = 1
	}
	if !ok {
		e = &entry{}
		d.m[k] = e
	}
	e.value = append(e.value[:0], value...)
	e.cas = d.next
	return abi.StatusOK
}

// Notify is called when a queue gets data; it must not block.
type Notify func(token uint32)

type queue struct {
	items [][]byte
	subs  []Subscriber
	rr    int
}

// Subscriber is a VM root context that registered a queue.
type Subscriber struct {
	ID     any // identifies the subscriber for Unsubscribe
	Notify Notify
}

// Queues are named FIFO queues, addressed by token.
type Queues struct {
	mu     sync.Mutex
	byName map[string]uint32
	q      map[uint32]*queue
	next   uint32
	// Max is the most items a queue holds; enqueue beyond it fails.
	Max int
}

// NewQueues returns an empty queue set.
func NewQueues() *Queues {
	return &Queues{byName: make(map[string]uint32), q: make(map[uint32]*queue), Max: 10000}
}

// Register creates (or finds) the queue ns/name and subscribes sub to it.
func (q *Queues) Register(ns, name string, sub Subscriber) uint32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	tok := q.resolveLocked(ns, name, true)
	qq := q.q[tok]
	qq.subs = append(qq.subs, sub)
	return tok
}

// Resolve finds the token of an existing queue.
func (q *Queues) Resolve(ns, name string) (uint32, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	tok := q.resolveLocked(ns, name, false)
	return tok, tok != 0
}

func (q *Queues) resolveLocked(ns, name string, create bool) uint32 {
	k := nsKey(ns, name)
	if tok, ok := q.byName[k]; ok {
		return tok
	}
	if !create {
		return 0
	}
	q.next++
	q.byName[k] = q.next
	q.q[q.next] = &queue{}
	return q.next
}

// Unsubscribe removes every subscription with this id (a closed VM).
func (q *Queues) Unsubscribe(id any) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, qq := range q.q {
		kept := qq.subs[:0]
		for _, s := range qq.subs {
			if s.ID != id {
				kept = append(kept, s)
			}
		}
		qq.subs = kept
	}
}

// Enqueue appends data and notifies one subscriber (round robin).
func (q *Queues) Enqueue(tok uint32, data []byte) abi.Status {
	q.mu.Lock()
	qq, ok := q.q[tok]
	if !ok {
		q.mu.Unlock()
		return abi.StatusNotFound
	}
	if len(qq.items) >= q.Max {
		q.mu.Unlock()
		return abi.StatusInternalFailure
	}
	qq.items = append(qq.items, append([]byte(nil), data...))
	var n Notify
	if len(qq.subs) > 0 {
		qq.rr = (qq.rr + 1) % len(qq.subs)
		n = qq.subs[qq.rr].Notify
	}
	q.mu.Unlock()
	if n != nil {
		n(tok)
	}
	return abi.StatusOK
}

// Dequeue pops the oldest item; StatusEmpty when there is none.
func (q *Queues) Dequeue(tok uint32) ([]byte, abi.Status) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qq, ok := q.q[tok]
	if !ok {
		return nil, abi.StatusNotFound
	}
	if len(qq.items) == 0 {
		return nil, abi.StatusEmpty
	}
	it := qq.items[0]
	qq.items[0] = nil
	qq.items = qq.items[1:]
	return it, abi.StatusOK
}
