package meshtest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/memory"
)

// The broker double: publish, consume, then make the next publish fail to
// test a producer's error path.
func Example_brokerDouble() {
	ctx := context.Background()
	b := memory.New(memory.Options{})
	defer b.Close(ctx)

	topic := memory.NewTopicName("orders")
	_ = b.Publish(ctx, topic, brokers.NewMessage([]byte("order-1")))
	ch, _ := b.Subscribe(ctx, topic, brokers.SubscribeOptions{Group: "billing"})
	d := <-ch
	fmt.Println("got", string(d.Message.Payload), "attempt", d.Attempt)
	_ = d.Ack(ctx)

	b.FailPublishes(1, errors.New("broker restarting"))
	err := b.Publish(ctx, topic, brokers.NewMessage([]byte("order-2")))
	fmt.Println("publish failed:", err != nil)
	fmt.Println("next publish:", b.Publish(ctx, topic, brokers.NewMessage([]byte("order-3"))))
	// Output:
	// got order-1 attempt 1
	// publish failed: true
	// next publish: <nil>
}
