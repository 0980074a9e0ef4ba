package kafkatest_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wasmesh/wasmesh/meshtest/kafkatest"
)

// Start a cluster with a seeded topic and talk to it with a real client.
// In a test, kafkatest.Start(t, ...) closes it at t.Cleanup.
func Example() {
	c, err := kafkatest.New(kafkatest.Topic("orders", 3))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	cl, _ := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("orders"))
	defer cl.Close()
	ctx := context.Background()
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("order-1")})
	fmt.Println("produce error:", res.FirstErr())
	fs := cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) { fmt.Println("fetched", string(r.Value)) })
	// Output:
	// produce error: <nil>
	// fetched order-1
}
