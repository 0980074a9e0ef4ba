package kafka_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/kafka"
)

// The producer is idempotent (it asks for a producer id) and every produce
// request waits for all in-sync replicas (acks = -1), observed on the wire.
func TestProducerIdempotentAcksAll(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	initPID, produces := 0, 0
	acks := map[int16]int{}
	c.ControlKey(int16(kmsg.InitProducerID), func(kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		initPID++
		mu.Unlock()
		return nil, nil, false // observe only
	})
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		produces++
		acks[r.(*kmsg.ProduceRequest).Acks]++
		mu.Unlock()
		return nil, nil, false
	})
	ctx := context.Background()
	b := open(t, "kafka://"+strings.Join(c.ListenAddrs(), ","), kafka.Options{})
	defer b.Close(ctx)
	topic := newTopic(t, b, 2)
	for range 3 {
		if err := b.Publish(ctx, topic, brokers.NewMessage([]byte("x")), brokers.NewMessage([]byte("y"))); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := produces > 0
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if initPID == 0 {
		t.Error("no InitProducerID request: the producer is not idempotent")
	}
	if produces == 0 || acks[-1] != produces {
		t.Errorf("produce requests by acks: %v (of %d), want all with acks=-1", acks, produces)
	}
}
