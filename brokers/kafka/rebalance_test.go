package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/kafka"
)

// Two members share a group; one leaves mid-stream. The survivor is given
// the leaver's partitions and every message is handled (some possibly twice,
// never zero times).
func TestRebalanceMemberLeaves(t *testing.T) {
	ctx := context.Background()
	url := cluster(t)
	pub := open(t, url, kafka.Options{})
	defer pub.Close(ctx)
	topic := newTopic(t, pub, 4)

	var mu sync.Mutex
	handled := map[string]int{}
	byMember := map[string]int{}
	member := func(name string) (*kafka.Broker, context.CancelFunc, chan error) {
		b := open(t, url, kafka.Options{})
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- brokers.Serve(sctx, b, topic, brokers.SubscribeOptions{Group: "workers", Consumer: name},
				func(_ context.Context, d *brokers.Delivery) error {
					mu.Lock()
					handled[d.Message.ID]++
					byMember[name]++
					mu.Unlock()
					return nil
				}, brokers.ServeOptions{})
		}()
		return b, cancel, done
	}
	b1, cancel1, done1 := member("m1")
	b2, cancel2, done2 := member("m2")
	defer b2.Close(ctx)
	defer cancel2()

	var ids []string
	publish := func(n int) {
		for i := range n {
			m := brokers.NewMessage([]byte(fmt.Sprint(i)))
			m.Key = fmt.Sprint("k", i)
			if err := pub.Publish(ctx, topic, m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
	}
	waitHandled := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := len(handled)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("handled %d distinct of %d", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Publish until the group has settled with both members working.
	for round := 0; ; round++ {
		publish(20)
		waitHandled(len(ids))
		mu.Lock()
		both := byMember["m1"] > 0 && byMember["m2"] > 0
		mu.Unlock()
		if both {
			break
		}
		if round == 50 {
			t.Fatalf("the two members never shared the partitions: %v", byMember)
		}
		time.Sleep(100 * time.Millisecond)
	}

	cancel1() // m1 leaves the group
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	if err := b1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	mu.Lock()
	for k, v := range byMember {
		before[k] = v
	}
	mu.Unlock()
	publish(100)
	waitHandled(len(ids))
	for _, id := range ids {
		if handled[id] == 0 {
			t.Fatalf("message %s never handled", id)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if byMember["m1"] != before["m1"] {
		t.Fatalf("m1 handled messages after it left")
	}
	if byMember["m2"]-before["m2"] < 100 {
		t.Fatalf("survivor handled %d of the 100 later messages", byMember["m2"]-before["m2"])
	}
	_ = done2
}
