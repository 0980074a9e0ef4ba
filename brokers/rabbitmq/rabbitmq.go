package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/backoff"
)

func init() {
	brokers.Register(brokers.SystemRabbitMQ, func(ctx context.Context, cfg brokers.Config, env brokers.Env) (brokers.Broker, error) {
		var o Options
		if err := brokers.DecodeOptions(cfg.Options, &o); err != nil {
			return nil, err
		}
		o.URL, o.Name, o.Metrics, o.Logger = cfg.URL, cfg.Name, env.Metrics, env.Logger
		return New(ctx, o)
	})
}

// Options configure a RabbitMQ broker; the JSON names are the `options:`
// keys in meshd's config (the URL comes from the broker's `url:`).
type Options struct {
	// URL is amqp://user:pass@host:port/vhost (amqps:// for TLS).
	URL string `json:"-"`
	Topology
	// Prefetch is the default per-subscription unacked limit (basic.qos, default 32).
	Prefetch int `json:"prefetch,omitempty"`
	// PublishChannels bounds the pool of confirm-mode channels shared by
	// concurrent publishers (default 8).
	PublishChannels int `json:"publishChannels,omitempty"`
	// PublishTimeout bounds a Publish whose context has no deadline,
	// reconnect waits included (default 30s).
	PublishTimeout brokers.Duration `json:"publishTimeout,omitempty"`
	// ReconnectMin and ReconnectMax bound the backoff between redials
	// (default 100ms and 10s, full jitter).
	ReconnectMin brokers.Duration `json:"reconnectMin,omitempty"`
	ReconnectMax brokers.Duration `json:"reconnectMax,omitempty"`
	// DrainTimeout is how long an ending subscription keeps its channel open
	// so handlers in flight can still ack (default 5s); what is unacked then
	// is requeued by RabbitMQ.
	DrainTimeout brokers.Duration `json:"drainTimeout,omitempty"`
	// LagInterval is how often a subscription reports its queue's ready
	// message count as the consumer_lag_messages gauge (default 15s; negative: never).
	LagInterval brokers.Duration `json:"lagInterval,omitempty"`
	// ConnectionName is shown by rabbitmqctl list_connections (default "wasmesh-<name>").
	ConnectionName string `json:"connectionName,omitempty"`
	// Transient publishes with delivery mode 1 (not persisted to disk).
	Transient bool `json:"transient,omitempty"`

	// Name labels metrics, errors and logs (default "rabbitmq").
	Name    string           `json:"-"`
	Metrics *brokers.Metrics `json:"-"`
	Logger  *slog.Logger     `json:"-"`
}

// Broker is a RabbitMQ broker. Create it with New.
type Broker struct {
	o   Options
	log *slog.Logger
	rec *brokers.Recorder

	topoMu sync.Mutex
	topo   Topology

	connMu sync.Mutex
	conn   *amqp.Connection
	gen    uint64        // incremented on every new connection
	ready  chan struct{} // closed while conn is usable
	dialer context.Context
	stop   context.CancelFunc
	mgr    sync.WaitGroup

	reconnects atomic.Int64
	pool       *pool

	mu        sync.RWMutex // guards closed against operations starting
	closed    bool
	closing   chan struct{} // closed by Close: nobody waits for a reconnect any more
	publishes sync.WaitGroup
	subs      sync.WaitGroup
	subsCtx   context.Context
	endSubs   context.CancelFunc
}

var _ brokers.Broker = (*Broker)(nil)

// New validates o, connects and declares the topology, so a bad URL, bad
// credentials, a bad topology or a missing exchange fail here with a clear
// error (ErrBadInput), and an unreachable server with ErrUnavailable.
func New(ctx context.Context, o Options) (*Broker, error) {
	if o.Name == "" {
		o.Name = "rabbitmq"
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 32
	}
	if o.PublishChannels <= 0 {
		o.PublishChannels = 8
	}
	if o.ConnectionName == "" {
		o.ConnectionName = "wasmesh-" + o.Name
	}
	if _, err := amqp.ParseURI(o.URL); err != nil {
		return nil, brokers.NewError("open", o.Name, "", brokers.ErrBadInput, fmt.Errorf("url: %w", err))
	}
	if err := o.Topology.Validate(); err != nil {
		return nil, brokers.NewError("open", o.Name, "", brokers.ErrBadInput, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{o: o, log: log.With("broker", o.Name), rec: o.Metrics.For(o.Name, brokers.SystemRabbitMQ), topo: o.Topology, ready: make(chan struct{}), closing: make(chan struct{})}
	b.dialer, b.stop = context.WithCancel(context.Background())
	b.subsCtx, b.endSubs = context.WithCancel(context.Background())
	b.pool = newPool(b, o.PublishChannels)
	c, err := b.connect(ctx)
	if err != nil {
		b.stop()
		return nil, err
	}
	b.setConn(c)
	b.mgr.Add(1)
	go b.manage(c)
	return b, nil
}

func (b *Broker) connect(ctx context.Context) (*amqp.Connection, error) {
	cfg := amqp.Config{Properties: amqp.NewConnectionProperties(), Heartbeat: 10 * time.Second}
	cfg.Properties.SetClientConnectionName(b.o.ConnectionName)
	d := net.Dialer{Timeout: 5 * time.Second}
	cfg.Dial = func(network, addr string) (net.Conn, error) { return d.DialContext(ctx, network, addr) }
	c, err := amqp.DialConfig(b.o.URL, cfg)
	if err != nil {
		return nil, b.classify("open", "", err)
	}
	b.topoMu.Lock()
	topo := b.topo
	b.topoMu.Unlock()
	if err := declare(c, topo); err != nil {
		_ = c.Close()
		return nil, b.classify("open", "", err)
	}
	return c, nil
}

// classify maps amqp errors to brokers kinds: refused credentials, vhost
// access, missing or mismatched entities are the caller's to fix
// (ErrBadInput); the rest is the network's (ErrUnavailable).
func (b *Broker) classify(op, topic string, err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case amqp.AccessRefused, amqp.PreconditionFailed, amqp.NotAllowed, amqp.CommandInvalid:
			return brokers.NewError(op, b.o.Name, topic, brokers.ErrBadInput, err)
		case amqp.NotFound:
			if op == "publish" {
				return brokers.NewError(op, b.o.Name, topic, brokers.ErrUnroutable, err)
			}
			return brokers.NewError(op, b.o.Name, topic, brokers.ErrBadInput, err)
		}
	}
	return brokers.NewError(op, b.o.Name, topic, brokers.ErrUnavailable, err)
}

func (b *Broker) setConn(c *amqp.Connection) {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	b.conn = c
	b.gen++
	close(b.ready)
	b.rec.SetConnected(true)
}

// current returns the usable connection and its generation, waiting for a
// reconnect when there is none.
func (b *Broker) current(ctx context.Context) (*amqp.Connection, uint64, error) {
	for {
		b.connMu.Lock()
		c, gen, ready := b.conn, b.gen, b.ready
		b.connMu.Unlock()
		select {
		case <-ready:
			if c != nil && !c.IsClosed() {
				return c, gen, nil
			}
			// Closed but the manager has not noticed yet: let it run.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-b.closing:
			return nil, 0, brokers.ErrClosed
		}
	}
}

// manage watches the connection and redials with backoff when it drops,
// re-declaring the topology before anyone uses the new connection.
func (b *Broker) manage(c *amqp.Connection) {
	defer b.mgr.Done()
	pol := backoff.Policy{Base: b.o.ReconnectMin.Or(100 * time.Millisecond), Max: b.o.ReconnectMax.Or(10 * time.Second)}
	for {
		closed := c.NotifyClose(make(chan *amqp.Error, 1))
		select {
		case <-b.dialer.Done():
			_ = c.Close()
			return
		case err := <-closed:
			b.connMu.Lock()
			b.ready = make(chan struct{})
			b.connMu.Unlock()
			b.rec.SetConnected(false)
			b.log.Warn("rabbitmq: connection lost, reconnecting", "err", err)
		}
		for n := 0; ; n++ {
			if backoff.Sleep(b.dialer, pol.Delay(n)) != nil {
				return
			}
			nc, err := b.connect(b.dialer)
			if err == nil {
				c = nc
				b.reconnects.Add(1)
				b.setConn(c)
				b.log.Info("rabbitmq: reconnected", "attempt", n+1)
				break
			}
			b.log.Warn("rabbitmq: reconnect failed", "attempt", n+1, "err", err)
		}
	}
}

// Reconnects returns how many times the connection was re-established.
func (b *Broker) Reconnects() int64 { return b.reconnects.Load() }

// Declare adds t to the topology: it is declared now and after every
// reconnect. Use it for topology known only at run time.
func (b *Broker) Declare(ctx context.Context, t Topology) error {
	if err := t.Validate(); err != nil {
		return brokers.NewError("declare", b.o.Name, "", brokers.ErrBadInput, err)
	}
	c, _, err := b.current(ctx)
	if err != nil {
		return brokers.NewError("declare", b.o.Name, "", brokers.ErrUnavailable, err)
	}
	if err := declare(c, t); err != nil {
		return b.classify("declare", "", err)
	}
	b.topoMu.Lock()
	defer b.topoMu.Unlock()
	b.topo.Exchanges = append(b.topo.Exchanges, t.Exchanges...)
	b.topo.Queues = append(b.topo.Queues, t.Queues...)
	b.topo.Bindings = append(b.topo.Bindings, t.Bindings...)
	return nil
}

// isQueueOnly reports whether a publish topic names a declared queue and no
// declared exchange: such a publish goes through the default exchange with
// the queue name as routing key. Any other topic names an exchange.
func (b *Broker) isQueueOnly(topic string) bool {
	b.topoMu.Lock()
	defer b.topoMu.Unlock()
	isExchange := slices.ContainsFunc(b.topo.Exchanges, func(e Exchange) bool { return e.Name == topic })
	isQueue := slices.ContainsFunc(b.topo.Queues, func(q Queue) bool { return q.Name == topic })
	return isQueue && !isExchange
}

// System implements brokers.Broker.
func (b *Broker) System() string { return brokers.SystemRabbitMQ }

// Features implements brokers.Broker.
func (b *Broker) Features() brokers.Features {
	return brokers.Features{Persistent: true, Acknowledged: true, OrderedByKey: true, Unroutable: true}
}

// Health implements brokers.Broker: nil while the connection is up.
func (b *Broker) Health(ctx context.Context) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return brokers.NewError("health", b.o.Name, "", brokers.ErrClosed, nil)
	}
	b.connMu.Lock()
	c, ready := b.conn, b.ready
	b.connMu.Unlock()
	select {
	case <-ready:
		if c != nil && !c.IsClosed() {
			return nil
		}
	default:
	}
	return brokers.NewError("health", b.o.Name, "", brokers.ErrUnavailable, errors.New("not connected (reconnecting)"))
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

// Close implements brokers.Broker: new publishes fail with ErrClosed,
// publishes in flight wait for their confirms, subscriptions end (handlers
// get DrainTimeout to ack what they hold), then the connection closes.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.closing)
	b.mu.Unlock()
	wait := func(wg *sync.WaitGroup) error {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("rabbitmq broker %s close: %w", b.o.Name, ctx.Err())
		}
	}
	errPub := wait(&b.publishes)
	b.endSubs()
	errSub := wait(&b.subs)
	b.pool.close()
	b.stop()
	b.mgr.Wait()
	b.rec.SetConnected(false)
	return errors.Join(errPub, errSub)
}
