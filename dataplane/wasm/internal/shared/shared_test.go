package shared

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/abi"
)

func TestDataCAS(t *testing.T) {
	d := NewData()
	if st := d.Set("ns", "k", []byte("a"), 7); st != abi.StatusCasMismatch {
		t.Fatalf("cas on missing key: %d", st)
	}
	if st := d.Set("ns", "k", []byte("a"), 0); st != abi.StatusOK {
		t.Fatal(st)
	}
	v, cas, ok := d.Get("ns", "k")
	if !ok || string(v) != "a" || cas == 0 {
		t.Fatalf("get = %q %d %v", v, cas, ok)
	}
	if st := d.Set("ns", "k", []byte("b"), cas+1); st != abi.StatusCasMismatch {
		t.Fatalf("stale cas accepted: %d", st)
	}
	if st := d.Set("ns", "k", []byte("b"), cas); st != abi.StatusOK {
		t.Fatal(st)
	}
	if _, _, ok := d.Get("other", "k"); ok {
		t.Fatal("namespaces leak")
	}
}

func TestDataCASNoLostUpdate(t *testing.T) {
	d := NewData()
	d.Set("ns", "n", make([]byte, 8), 0)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				for {
					v, cas, _ := d.Get("ns", "n")
					binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(v)+1)
					if d.Set("ns", "n", v, cas) == abi.StatusOK {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	v, _, _ := d.Get("ns", "n")
	if got := binary.LittleEndian.Uint64(v); got != 4000 {
		t.Fatalf("counter = %d, want 4000", got)
	}
}

func TestQueues(t *testing.T) {
	q := NewQueues()
	var got []uint32
	tok := q.Register("ns", "q", Subscriber{ID: 1, Notify: func(tok uint32) { got = append(got, tok) }})
	if r, ok := q.Resolve("ns", "q"); !ok || r != tok {
		t.Fatalf("resolve = %d %v", r, ok)
	}
	if _, st := q.Dequeue(tok); st != abi.StatusEmpty {
		t.Fatalf("dequeue empty: %d", st)
	}
	q.Enqueue(tok, []byte("x"))
	q.Enqueue(tok, []byte("y"))
	if len(got) != 2 {
		t.Fatalf("notified %d times", len(got))
	}
	for _, want := range []string{"x", "y"} {
		b, st := q.Dequeue(tok)
		if st != abi.StatusOK || string(b) != want {
			t.Fatalf("dequeue = %q %d", b, st)
		}
	}
	q.Unsubscribe(1)
	q.Enqueue(tok, []byte("z"))
	if len(got) != 2 {
		t.Fatal("notified after unsubscribe")
	}
	if st := q.Enqueue(99, nil); st != abi.StatusNotFound {
		t.Fatal(st)
	}
}
