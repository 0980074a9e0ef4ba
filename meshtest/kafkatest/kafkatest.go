package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is one running kfake cluster.
type Cluster struct {
	fake  *kfake.Cluster
	addrs []string // read at start: kfake cannot answer once closed
}

type config struct {
	brokers int32
	topics  map[string]int32
	order   []string
	auto    int32
	extra   []kfake.Opt
}

// Option tunes Start and New.
type Option func(*config)

// Brokers sets how many brokers the cluster has (default 1); partition
// leaders are spread over them.
func Brokers(n int) Option { return func(c *config) { c.brokers = int32(n) } }

// Topic creates topic name with the given partitions before Start returns.
func Topic(name string, partitions int) Option {
	return func(c *config) {
		if _, ok := c.topics[name]; !ok {
			c.order = append(c.order, name)
		}
		c.topics[name] = int32(partitions)
	}
}

// AutoCreateTopics lets producers create topics by writing to them, with
// the given partitions each (as auto.create.topics.enable does).
func AutoCreateTopics(partitions int) Option { return func(c *config) { c.auto = int32(partitions) } }

// With passes kfake options through (SASL, TLS, ACLs, a data dir, group
// session bounds) for what this package does not wrap.
func With(opts ...kfake.Opt) Option { return func(c *config) { c.extra = append(c.extra, opts...) } }

// New starts a cluster; the caller must Close it. Tests use Start.
func New(opts ...Option) (*Cluster, error) {
	cfg := config{brokers: 1, topics: map[string]int32{}}
	for _, o := range opts {
		o(&cfg)
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(int(cfg.brokers)),
		// Short group timeouts keep rebalances in tests quick.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	if cfg.auto > 0 {
		kopts = append(kopts, kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(int(cfg.auto)))
	}
	for _, name := range cfg.order {
		kopts = append(kopts, kfake.SeedTopics(cfg.topics[name], name))
	}
	kopts = append(kopts, cfg.extra...)
	fake, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start kfake: %w", err)
	}
	return &Cluster{fake: fake, addrs: fake.ListenAddrs()}, nil
}

// Start runs a cluster for t and closes it at t.Cleanup.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Addrs are the bootstrap addresses ("127.0.0.1:port"), one per broker,
// for kgo.SeedBrokers or sarama.NewClient.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// URL is the bootstrap list in the form brokers/kafka's Options.URL and
// meshd's broker config take: "kafka://host:port,host:port".
func (c *Cluster) URL() string { return "kafka://" + strings.Join(c.Addrs(), ",") }

// Fake is the kfake cluster itself, for fault injection (Control,
// MoveTopicPartition, ShufflePartitionLeaders). Brokers added or removed
// through it are not reflected in Addrs.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// Close stops every broker; clients see their connections refused.
func (c *Cluster) Close() { c.fake.Close() }

// CreateTopic creates a topic with the given partitions, as an admin
// client would.
func (c *Cluster) CreateTopic(ctx context.Context, name string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		return fmt.Errorf("kafkatest: client: %w", err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, int32(partitions), 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafkatest: create topic %s: %w", name, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("kafkatest: create topic %s: %w", name, err)
		}
	}
	return nil
}

// NewTopic creates a topic with a unique name starting with prefix and
// returns the name, so tests sharing a cluster do not see each other's
// messages.
func (c *Cluster) NewTopic(t testing.TB, prefix string, partitions int) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := prefix + "-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.CreateTopic(ctx, name, partitions); err != nil {
		t.Fatal(err)
	}
	return name
}
