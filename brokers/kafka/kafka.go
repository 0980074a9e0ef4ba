package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/wire"
)

func init() {
	brokers.Register(brokers.SystemKafka, func(ctx context.Context, cfg brokers.Config, env brokers.Env) (brokers.Broker, error) {
		var o Options
		if err := brokers.DecodeOptions(cfg.Options, &o); err != nil {
			return nil, err
		}
		o.URL, o.Name, o.Metrics, o.Logger = cfg.URL, cfg.Name, env.Metrics, env.Logger
		return New(ctx, o)
	})
}

// Suffixes of the retry and dead-letter topics derived from a subscribed topic.
const (
	RetrySuffix = ".retry"
	DLQSuffix   = ".dlq"
)

// Headers the adapter adds to retried and dead-lettered messages.
const (
	headerAttempt       = "x-wasmesh-internal-attempt"
	HeaderOriginalTopic = "x-dlq-original-topic"
	HeaderDLQReason     = "x-dlq-reason"
)

// TopicSpec is a topic the broker creates at start when it is missing.
type TopicSpec struct {
	Name              string `json:"name"`
	Partitions        int32  `json:"partitions,omitempty"`        // default 1
	ReplicationFactor int16  `json:"replicationFactor,omitempty"` // default 1
}

// Options configure a Kafka broker; the JSON names are the `options:` keys
// in meshd's config (the URL comes from the broker's `url:`).
type Options struct {
	// URL lists bootstrap brokers: "kafka://host1:9092,host2:9092" or
	// "host1:9092,host2:9092".
	URL string `json:"-"`
	// Version is the Kafka protocol version to speak (default "3.6.0").
	Version string `json:"version,omitempty"`
	// ClientID identifies this client to the brokers (default "wasmesh").
	ClientID string `json:"clientID,omitempty"`
	// Topics are created at start when missing; a topic that does not exist
	// and cannot be created fails New.
	Topics []TopicSpec `json:"topics,omitempty"`
	// RetryDelay is how long a message waits in the retry topic before it is
	// delivered again (default 1s).
	RetryDelay brokers.Duration `json:"retryDelay,omitempty"`
	// Prefetch bounds unacked deliveries per subscription (default 32).
	Prefetch int `json:"prefetch,omitempty"`
	// SessionTimeout and HeartbeatInterval tune group membership (default 10s and 1s).
	SessionTimeout    brokers.Duration `json:"sessionTimeout,omitempty"`
	HeartbeatInterval brokers.Duration `json:"heartbeatInterval,omitempty"`
	// CommitInterval is how often marked offsets are committed (default 1s);
	// they are also committed when a partition is revoked and on Close.
	CommitInterval brokers.Duration `json:"commitInterval,omitempty"`
	// DrainTimeout is how long a revoked partition waits for its unsettled
	// deliveries before it is given up (default 5s).
	DrainTimeout brokers.Duration `json:"drainTimeout,omitempty"`

	// Name labels metrics, errors and logs (default "kafka").
	Name    string           `json:"-"`
	Metrics *brokers.Metrics `json:"-"`
	Logger  *slog.Logger     `json:"-"`
}

// Broker is a Kafka broker. Create it with New.
type Broker struct {
	o     Options
	addrs []string
	cfg   *sarama.Config
	log   *slog.Logger
	rec   *brokers.Recorder

	client   sarama.Client
	admin    sarama.ClusterAdmin
	producer sarama.SyncProducer

	mu        sync.RWMutex
	closed    bool
	publishes sync.WaitGroup
	subs      sync.WaitGroup
	subsCtx   context.Context
	endSubs   context.CancelFunc

	topicsMu sync.Mutex
	ensured  map[string]bool
}

var _ brokers.Broker = (*Broker)(nil)

// New validates o, connects, and creates the configured topics, so a bad
// URL, an unreachable cluster or a topic that cannot be created fail here.
func New(ctx context.Context, o Options) (*Broker, error) {
	if o.Name == "" {
		o.Name = "kafka"
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 32
	}
	addrs, err := parseURL(o.URL)
	if err != nil {
		return nil, brokers.NewError("open", o.Name, "", brokers.ErrBadInput, err)
	}
	cfg, err := o.saramaConfig()
	if err != nil {
		return nil, brokers.NewError("open", o.Name, "", brokers.ErrBadInput, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{o: o, addrs: addrs, cfg: cfg, log: log.With("broker", o.Name), rec: o.Metrics.For(o.Name, brokers.SystemKafka), ensured: map[string]bool{}}
	b.subsCtx, b.endSubs = context.WithCancel(context.Background())
	err = runCtx(ctx, func() error {
		var err error
		if b.client, err = sarama.NewClient(addrs, cfg); err != nil {
			return err
		}
		if b.admin, err = sarama.NewClusterAdminFromClient(b.client); err != nil {
			return err
		}
		b.producer, err = sarama.NewSyncProducerFromClient(b.client)
		return err
	})
	if err != nil {
		b.closeClients()
		return nil, b.classify("open", "", err)
	}
	for _, t := range o.Topics {
		if err := b.ensureTopic(ctx, t); err != nil {
			b.closeClients()
			return nil, err
		}
	}
	b.rec.SetConnected(true)
	return b, nil
}

func parseURL(u string) ([]string, error) {
	u = strings.TrimPrefix(u, "kafka://")
	if u == "" {
		return nil, errors.New("url: no bootstrap brokers")
	}
	var addrs []string
	for _, a := range strings.Split(u, ",") {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("url: bootstrap broker %q: %w", a, err)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func (o Options) saramaConfig() (*sarama.Config, error) {
	cfg := sarama.NewConfig()
	v := o.Version
	if v == "" {
		v = "3.6.0"
	}
	ver, err := sarama.ParseKafkaVersion(v)
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	cfg.Version = ver
	cfg.ClientID = o.ClientID
	if cfg.ClientID == "" {
		cfg.ClientID = "wasmesh"
	}
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by the idempotent producer
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 5
	cfg.Producer.Partitioner = newPartitioner
	cfg.Consumer.Return.Errors = false
	cfg.Consumer.Group.Session.Timeout = o.SessionTimeout.Or(10 * time.Second)
	cfg.Consumer.Group.Heartbeat.Interval = o.HeartbeatInterval.Or(time.Second)
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = o.CommitInterval.Or(time.Second)
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cfg.Metadata.AllowAutoTopicCreation = false
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// runCtx runs f (a sarama call without a context) but returns when ctx ends.
func runCtx(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Broker) closeClients() {
	if b.producer != nil {
		_ = b.producer.Close()
	}
	if b.client != nil && !b.client.Closed() {
		_ = b.client.Close()
	}
}

// classify maps sarama errors to brokers kinds.
func (b *Broker) classify(op, topic string, err error) error {
	var ke sarama.KError
	var pe *sarama.ProducerError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.As(err, &ke) {
		switch ke {
		case sarama.ErrUnknownTopicOrPartition:
			return brokers.NewError(op, b.o.Name, topic, brokers.ErrUnroutable, err)
		case sarama.ErrInvalidTopic, sarama.ErrMessageSizeTooLarge, sarama.ErrInvalidPartitions,
			sarama.ErrTopicAuthorizationFailed, sarama.ErrSASLAuthenticationFailed, sarama.ErrClusterAuthorizationFailed:
			return brokers.NewError(op, b.o.Name, topic, brokers.ErrBadInput, err)
		}
	}
	return brokers.NewError(op, b.o.Name, topic, brokers.ErrUnavailable, err)
}

// ensureTopic creates t unless it exists.
func (b *Broker) ensureTopic(ctx context.Context, t TopicSpec) error {
	b.topicsMu.Lock()
	defer b.topicsMu.Unlock()
	if b.ensured[t.Name] {
		return nil
	}
	if t.Partitions <= 0 {
		t.Partitions = 1
	}
	if t.ReplicationFactor <= 0 {
		t.ReplicationFactor = 1
	}
	err := runCtx(ctx, func() error {
		err := b.admin.CreateTopic(t.Name, &sarama.TopicDetail{NumPartitions: t.Partitions, ReplicationFactor: t.ReplicationFactor}, false)
		if errors.Is(err, sarama.ErrTopicAlreadyExists) {
			err = nil
		}
		if err == nil {
			err = b.client.RefreshMetadata(t.Name)
		}
		return err
	})
	if err != nil {
		return brokers.NewError("create topic", b.o.Name, t.Name, brokers.ErrUnroutable,
			fmt.Errorf("topic %q does not exist and cannot be created: %w", t.Name, err))
	}
	b.ensured[t.Name] = true
	return nil
}

// Declare creates topics at run time (the same as Options.Topics at start).
func (b *Broker) Declare(ctx context.Context, topics ...TopicSpec) error {
	for _, t := range topics {
		if err := b.ensureTopic(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// System implements brokers.Broker.
func (b *Broker) System() string { return brokers.SystemKafka }

// Features implements brokers.Broker.
func (b *Broker) Features() brokers.Features {
	return brokers.Features{Persistent: true, Acknowledged: true, OrderedByKey: true, ConsumerGroups: true, Unroutable: true}
}

// Health implements brokers.Broker: the cluster's metadata can be fetched.
func (b *Broker) Health(ctx context.Context) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return brokers.NewError("health", b.o.Name, "", brokers.ErrClosed, nil)
	}
	err := runCtx(ctx, func() error {
		_, err := b.client.Controller()
		if err == nil {
			err = b.client.RefreshMetadata()
		}
		return err
	})
	b.rec.SetConnected(err == nil)
	if err != nil {
		return b.classify("health", "", err)
	}
	return nil
}

func (b *Broker) begin(op, topic string, wg *sync.WaitGroup) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return brokers.NewError(op, b.o.Name, topic, brokers.ErrClosed, nil)
	}
	wg.Add(1)
	return nil
}

// Publish implements brokers.Publisher: acks=all, idempotent.
func (b *Broker) Publish(ctx context.Context, topic string, msgs ...*brokers.Message) error {
	start := time.Now()
	if err := brokers.ValidateTopic(topic); err != nil {
		return brokers.NewError("publish", b.o.Name, topic, brokers.ErrBadInput, err)
	}
	for _, m := range msgs {
		if err := m.Prepare(); err != nil {
			return brokers.NewError("publish", b.o.Name, topic, brokers.ErrBadInput, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnavailable, err)
	}
	if err := b.begin("publish", topic, &b.publishes); err != nil {
		return err
	}
	defer b.publishes.Done()
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pms[i] = toProducerMessage(topic, m)
	}
	err := b.send(ctx, topic, pms)
	b.rec.Published(topic, len(msgs), start, err)
	return err
}

func (b *Broker) send(ctx context.Context, topic string, pms []*sarama.ProducerMessage) error {
	// The sync producer has no context; it is bounded by its own retries.
	// Returning early on ctx leaves the send to finish in the background.
	err := runCtx(ctx, func() error { return b.producer.SendMessages(pms) })
	if err == nil {
		return nil
	}
	var pe sarama.ProducerErrors
	if errors.As(err, &pe) && len(pe) > 0 {
		return b.classify("publish", topic, pe[0])
	}
	return b.classify("publish", topic, err)
}

// explicit marks a producer message whose partition the caller chose.
type explicit struct{}

func toProducerMessage(topic string, m *brokers.Message) *sarama.ProducerMessage {
	h := wire.ToHeaders(m)
	hs := make([]sarama.RecordHeader, 0, len(h))
	for k, v := range h {
		hs = append(hs, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	pm := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(m.Payload), Headers: hs, Timestamp: m.Time}
	if m.Key != "" {
		pm.Key = sarama.StringEncoder(m.Key)
	}
	if p, ok := m.Partition(); ok {
		pm.Partition = p
		pm.Metadata = explicit{}
	}
	return pm
}

// partitioner honours an explicit partition and hashes the key otherwise.
type partitioner struct{ hash sarama.Partitioner }

func newPartitioner(topic string) sarama.Partitioner {
	return partitioner{hash: sarama.NewHashPartitioner(topic)}
}

func (p partitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if _, ok := m.Metadata.(explicit); ok {
		if m.Partition < 0 || m.Partition >= n {
			return 0, sarama.ErrInvalidPartition
		}
		return m.Partition, nil
	}
	return p.hash.Partition(m, n)
}

func (p partitioner) RequiresConsistency() bool { return true }

// Close implements brokers.Broker: new publishes fail, publishes in flight
// finish, subscriptions leave their groups (committing marked offsets),
// then the producer and client close.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	wait := func(wg *sync.WaitGroup) error {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("kafka broker %s close: %w", b.o.Name, ctx.Err())
		}
	}
	errPub := wait(&b.publishes)
	b.endSubs()
	errSub := wait(&b.subs)
	b.closeClients()
	b.rec.SetConnected(false)
	return errors.Join(errPub, errSub)
}
