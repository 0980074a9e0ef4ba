package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
)

func init() {
	brokers.Register(brokers.SystemRedis, func(ctx context.Context, cfg brokers.Config, env brokers.Env) (brokers.Broker, error) {
		var o Options
		if err := brokers.DecodeOptions(cfg.Options, &o); err != nil {
			return nil, err
		}
		o.URL, o.Name, o.Metrics = cfg.URL, cfg.Name, env.Metrics
		return New(ctx, o)
	})
}

// Modes of a Redis broker.
const (
	ModeStreams = "streams"
	ModePubSub  = "pubsub"
)

// Options configure a Redis broker; the JSON names are the `options:` keys
// in meshd's config (the URL comes from the broker's `url:`).
type Options struct {
	// URL is redis://[user:password@]host:port[/db] (or rediss:// for TLS).
	URL string `json:"-"`
	// Mode is "streams" (default, at-least-once) or "pubsub" (at-most-once).
	Mode string `json:"mode,omitempty"`
	// ClaimIdle is how long a pending stream entry must sit unacked before
	// another consumer of the group takes it over (default 30s). Handlers
	// slower than this may see a message twice.
	ClaimIdle brokers.Duration `json:"claimIdle,omitempty"`
	// ClaimInterval is how often a consumer looks for such entries (default ClaimIdle/2).
	ClaimInterval brokers.Duration `json:"claimInterval,omitempty"`
	// Block is how long one XREADGROUP waits for new entries (default 1s);
	// it bounds how long Close waits for a subscription to notice.
	Block brokers.Duration `json:"block,omitempty"`
	// MaxLen trims streams to about this many entries on XADD (0: no trimming).
	MaxLen int64 `json:"maxLen,omitempty"`
	// Prefetch is the default unacked-delivery limit per subscription (default 32).
	Prefetch int `json:"prefetch,omitempty"`
	// RequireSubscribers (pubsub mode) fails Publish with ErrUnroutable when
	// no client received the message, instead of dropping it silently.
	RequireSubscribers bool `json:"requireSubscribers,omitempty"`

	// Name labels metrics and errors (default "redis").
	Name string `json:"-"`
	// Metrics may be nil.
	Metrics *brokers.Metrics `json:"-"`
	// Client, when set, is used instead of dialing URL; Close leaves it open.
	Client goredis.UniversalClient `json:"-"`
}

// Broker is a Redis broker. Create it with New.
type Broker struct {
	o      Options
	rec    *brokers.Recorder
	c      goredis.UniversalClient
	owned  bool
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.RWMutex // guards closed against in-flight operations
	closed   bool
	inflight sync.WaitGroup // publishes and subscriptions
}

var _ brokers.Broker = (*Broker)(nil)

// New validates o, connects and PINGs, so a bad URL or bad credentials fail
// here with a clear error.
func New(ctx context.Context, o Options) (*Broker, error) {
	if o.Name == "" {
		o.Name = "redis"
	}
	switch o.Mode {
	case "":
		o.Mode = ModeStreams
	case ModeStreams, ModePubSub:
	default:
		return nil, brokers.NewError("open", o.Name, "", brokers.ErrBadInput,
			fmt.Errorf("mode %q: want %q or %q", o.Mode, ModeStreams, ModePubSub))
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 32
	}
	o.ClaimIdle = brokers.Duration(o.ClaimIdle.Or(30 * time.Second))
	o.ClaimInterval = brokers.Duration(o.ClaimInterval.Or(time.Duration(o.ClaimIdle) / 2))
	o.Block = brokers.Duration(o.Block.Or(time.Second))
	b := &Broker{o: o, rec: o.Metrics.For(o.Name, brokers.SystemRedis), c: o.Client}
	if b.c == nil {
		opt, err := goredis.ParseURL(o.URL)
		if err != nil {
			return nil, brokers.NewError("open", o.Name, "", brokers.ErrBadInput, fmt.Errorf("url: %w", err))
		}
		b.c, b.owned = goredis.NewClient(opt), true
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if err := b.Health(ctx); err != nil {
		b.cancel()
		if b.owned {
			_ = b.c.Close()
		}
		return nil, err
	}
	return b, nil
}

// Client returns the underlying go-redis client (for the Redis dedup store
// of brokers/middleware, say).
func (b *Broker) Client() goredis.UniversalClient { return b.c }

// System implements brokers.Broker.
func (b *Broker) System() string { return brokers.SystemRedis }

// Features implements brokers.Broker.
func (b *Broker) Features() brokers.Features {
	if b.o.Mode == ModePubSub {
		return brokers.Features{Unroutable: b.o.RequireSubscribers}
	}
	return brokers.Features{Persistent: true, Acknowledged: true, OrderedByKey: true, ConsumerGroups: true}
}

// Health implements brokers.Broker with a PING.
func (b *Broker) Health(ctx context.Context) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return brokers.NewError("health", b.o.Name, "", brokers.ErrClosed, nil)
	}
	err := b.c.Ping(ctx).Err()
	b.rec.SetConnected(err == nil)
	if err != nil {
		return b.classify("health", "", err)
	}
	return nil
}

// begin registers an operation, failing when the broker is closed, so
// Close can wait for every operation it let in.
func (b *Broker) begin(op, topic string) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return brokers.NewError(op, b.o.Name, topic, brokers.ErrClosed, nil)
	}
	b.inflight.Add(1)
	return nil
}

// classify maps a go-redis error to a brokers error kind.
func (b *Broker) classify(op, topic string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne),
		errors.Is(err, goredis.ErrClosed):
		return brokers.NewError(op, b.o.Name, topic, brokers.ErrUnavailable, err)
	case strings.HasPrefix(err.Error(), "WRONGPASS"), strings.HasPrefix(err.Error(), "NOAUTH"),
		strings.HasPrefix(err.Error(), "NOPERM"):
		return brokers.NewError(op, b.o.Name, topic, brokers.ErrBadInput, err)
	case strings.HasPrefix(err.Error(), "WRONGTYPE"):
		return brokers.NewError(op, b.o.Name, topic, brokers.ErrUnroutable, err)
	}
	return brokers.NewError(op, b.o.Name, topic, brokers.ErrUnavailable, err)
}

// Publish implements brokers.Publisher: XADD (streams) or PUBLISH (pubsub),
// pipelined for a batch; it returns when Redis replied to every command.
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
	if err := b.begin("publish", topic); err != nil {
		return err
	}
	defer b.inflight.Done()
	if err := ctx.Err(); err != nil {
		return brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnavailable, err)
	}
	var err error
	if b.o.Mode == ModePubSub {
		err = b.publishPubSub(ctx, topic, msgs)
	} else {
		err = b.publishStream(ctx, topic, msgs)
	}
	b.rec.Published(topic, len(msgs), start, err)
	return err
}

// Subscribe implements brokers.Subscriber.
func (b *Broker) Subscribe(ctx context.Context, topic string, opts brokers.SubscribeOptions) (<-chan *brokers.Delivery, error) {
	if err := brokers.ValidateTopic(topic); err != nil {
		return nil, brokers.NewError("subscribe", b.o.Name, topic, brokers.ErrBadInput, err)
	}
	if err := b.begin("subscribe", topic); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.ctx, cancel)
	var (
		ch  <-chan *brokers.Delivery
		err error
	)
	done := func() { stop(); cancel(); b.inflight.Done() }
	if b.o.Mode == ModePubSub {
		ch, err = b.subscribePubSub(ctx, topic, opts, done)
	} else {
		ch, err = b.subscribeStream(ctx, topic, opts, done)
	}
	if err != nil {
		done()
		return nil, err
	}
	return ch, nil
}

// Close implements brokers.Broker: new operations fail with ErrClosed,
// subscriptions end (their unacked entries stay pending in the group for
// another consumer), publishes in flight finish, then the client closes.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("redis broker %s close: %w", b.o.Name, ctx.Err())
	}
	b.rec.SetConnected(false)
	if b.owned {
		if err := b.c.Close(); err != nil {
			return fmt.Errorf("redis broker %s close: %w", b.o.Name, err)
		}
	}
	return nil
}
