package watch

import (
	"errors"
	"testing"

	"github.com/wasmesh/wasmesh/discovery"
)

func set(ids ...string) []discovery.Instance {
	out := make([]discovery.Instance, 0, len(ids))
	for _, id := range ids {
		out = append(out, discovery.Instance{Service: "s", ID: id, Address: "10.0.0.1", Port: 80})
	}
	return out
}

func TestSenderKeepsOnlyLatestAndDropsRepeats(t *testing.T) {
	s := NewSender()
	if !s.Send(discovery.Update{Instances: set("a")}) {
		t.Fatal("first send not queued")
	}
	if !s.Send(discovery.Update{Instances: set("a", "b")}) {
		t.Fatal("changed set not queued")
	}
	if s.Send(discovery.Update{Instances: set("a", "b")}) {
		t.Fatal("identical set queued again")
	}
	got := <-s.C()
	if len(got.Instances) != 2 {
		t.Fatalf("consumer got %d instances, want the latest set of 2", len(got.Instances))
	}
	select {
	case u := <-s.C():
		t.Fatalf("stale update still queued: %+v", u)
	default:
	}
	// The same set with an error is news (the backend went unavailable).
	if !s.Send(discovery.Update{Instances: set("a", "b"), Err: errors.New("down")}) {
		t.Fatal("error update not queued")
	}
	if u := <-s.C(); u.Err == nil {
		t.Fatal("error lost")
	}
	s.Close()
	s.Close()
	if s.Send(discovery.Update{Instances: set("c")}) {
		t.Fatal("send after close queued")
	}
	if _, ok := <-s.C(); ok {
		t.Fatal("channel not closed")
	}
}
