package kafkatest_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wasmesh/wasmesh/meshtest/kafkatest"
)

func partitions(t *testing.T, addrs []string, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata for %s: %d topics", topic, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return 0
	}
	return len(resp.Topics[0].Partitions)
}

func TestTopicsAndBrokers(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Brokers(3), kafkatest.Topic("orders", 3), kafkatest.Topic("audit", 1))
	if n := len(c.Addrs()); n != 3 {
		t.Fatalf("Addrs = %v, want 3 brokers", c.Addrs())
	}
	tests := []struct {
		topic string
		want  int
	}{
		{"orders", 3},
		{"audit", 1},
		{c.NewTopic(t, "fresh", 4), 4},
		{"never-created", 0},
	}
	for _, tt := range tests {
		if got := partitions(t, c.Addrs(), tt.topic); got != tt.want {
			t.Errorf("%s has %d partitions, want %d", tt.topic, got, tt.want)
		}
	}
	err := c.CreateTopic(context.Background(), "orders", 2)
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("creating an existing topic = %v, want TopicAlreadyExists", err)
	}
}

func TestProduceConsume(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.AutoCreateTopics(2))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	want := []string{"a", "b", "c"}
	for _, v := range want {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "auto", Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	if got := partitions(t, c.Addrs(), "auto"); got != 2 {
		t.Fatalf("auto-created topic has %d partitions, want 2", got)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("auto"),
		kgo.ConsumerGroup("g"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < len(want) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v before timeout", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, want) { // one key, one partition: in order
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

func TestCloseStopsListening(t *testing.T) {
	c, err := kafkatest.New()
	if err != nil {
		t.Fatal(err)
	}
	addr := c.Addrs()[0]
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial a running cluster: %v", err)
	}
	conn.Close()
	c.Close()
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("cluster still accepts connections after Close")
	}
	if u := c.URL(); u != "kafka://"+addr {
		t.Fatalf("URL = %q", u)
	}
}
