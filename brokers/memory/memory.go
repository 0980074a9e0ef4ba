package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/brokers"
)

func init() {
	brokers.Register(brokers.SystemMemory, func(_ context.Context, cfg brokers.Config, env brokers.Env) (brokers.Broker, error) {
		var o Options
		if err := brokers.DecodeOptions(cfg.Options, &o); err != nil {
			return nil, err
		}
		o.Name, o.Metrics = cfg.Name, env.Metrics
		return New(o), nil
	})
}

// Options configure an in-memory broker. The JSON form is what meshd's
// config accepts under `options:`.
type Options struct {
	// Name labels metrics and errors; default "memory".
	Name string `json:"-"`
	// Prefetch is the default per-subscription limit of unacked deliveries (default 32).
	Prefetch int `json:"prefetch,omitempty"`
	// Metrics may be nil.
	Metrics *brokers.Metrics `json:"-"`
}

// Broker is the in-memory broker. Create it with New.
type Broker struct {
	opts   Options
	rec    *brokers.Recorder
	ctx    context.Context // cancelled by Close: ends every subscription
	cancel context.CancelFunc
	subs   sync.WaitGroup

	mu      sync.Mutex
	topics  map[string]*topic
	closed  bool
	failN   int
	failErr error
	down    error
	delay   time.Duration
}

type topic struct {
	log    []*stored
	groups map[string]*group
}

type stored struct {
	msg *brokers.Message
	at  time.Time
}

type entry struct {
	msg      *brokers.Message
	attempts int
	owner    *sub // nil when pending
}

type group struct {
	pending []*entry
	wake    chan struct{} // closed and replaced whenever pending or inflight changes
}

type sub struct {
	inflight map[*entry]struct{}
	prefetch int
}

var _ brokers.Broker = (*Broker)(nil)

// New returns an empty broker.
func New(o Options) *Broker {
	if o.Name == "" {
		o.Name = "memory"
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 32
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{opts: o, rec: o.Metrics.For(o.Name, brokers.SystemMemory), ctx: ctx, cancel: cancel, topics: map[string]*topic{}}
	b.rec.SetConnected(true)
	return b
}

// System implements brokers.Broker.
func (b *Broker) System() string { return brokers.SystemMemory }

// Features implements brokers.Broker.
func (b *Broker) Features() brokers.Features {
	return brokers.Features{Persistent: true, Acknowledged: true, OrderedByKey: true, ConsumerGroups: true}
}

// FailPublishes makes the next n Publish calls fail with err (ErrUnavailable
// when err is nil) without storing anything: a fault hook for tests.
func (b *Broker) FailPublishes(n int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		err = errors.New("injected publish failure")
	}
	b.failN, b.failErr = n, err
}

// DelayDeliveries makes every subsequent delivery wait d before it is handed
// to its consumer: a fault hook for slow-broker tests.
func (b *Broker) DelayDeliveries(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delay = d
}

// SetDown makes Health and Publish fail with ErrUnavailable (wrapping err)
// until SetDown(nil): a fault hook for readiness tests.
func (b *Broker) SetDown(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = err
	b.rec.SetConnected(err == nil)
}

// Health implements brokers.Broker.
func (b *Broker) Health(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return brokers.NewError("health", b.opts.Name, "", brokers.ErrClosed, nil)
	case b.down != nil:
		return brokers.NewError("health", b.opts.Name, "", brokers.ErrUnavailable, b.down)
	}
	return nil
}

// Publish implements brokers.Publisher. The messages are stored before it
// returns, which is this broker's "confirm".
func (b *Broker) Publish(ctx context.Context, topicName string, msgs ...*brokers.Message) error {
	start := time.Now()
	if err := brokers.ValidateTopic(topicName); err != nil {
		return brokers.NewError("publish", b.opts.Name, topicName, brokers.ErrBadInput, err)
	}
	for _, m := range msgs {
		if err := m.Prepare(); err != nil {
			return brokers.NewError("publish", b.opts.Name, topicName, brokers.ErrBadInput, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return brokers.NewError("publish", b.opts.Name, topicName, brokers.ErrUnavailable, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return brokers.NewError("publish", b.opts.Name, topicName, brokers.ErrClosed, nil)
	case b.down != nil:
		err := brokers.NewError("publish", b.opts.Name, topicName, brokers.ErrUnavailable, b.down)
		b.rec.Published(topicName, len(msgs), start, err)
		return err
	case b.failN > 0:
		b.failN--
		err := brokers.NewError("publish", b.opts.Name, topicName, brokers.ErrUnavailable, b.failErr)
		b.rec.Published(topicName, len(msgs), start, err)
		return err
	}
	t := b.topicLocked(topicName)
	now := time.Now()
	for _, m := range msgs {
		s := &stored{msg: m.Clone(), at: now}
		t.log = append(t.log, s)
		for _, g := range t.groups {
			g.pending = append(g.pending, &entry{msg: s.msg})
			g.signal()
		}
	}
	b.rec.Published(topicName, len(msgs), start, nil)
	return nil
}

func (b *Broker) topicLocked(name string) *topic {
	t := b.topics[name]
	if t == nil {
		t = &topic{groups: map[string]*group{}}
		b.topics[name] = t
	}
	return t
}

func (g *group) signal() {
	close(g.wake)
	g.wake = make(chan struct{})
}

// Subscribe implements brokers.Subscriber.
func (b *Broker) Subscribe(ctx context.Context, topicName string, opts brokers.SubscribeOptions) (<-chan *brokers.Delivery, error) {
	if err := brokers.ValidateTopic(topicName); err != nil {
		return nil, brokers.NewError("subscribe", b.opts.Name, topicName, brokers.ErrBadInput, err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, brokers.NewError("subscribe", b.opts.Name, topicName, brokers.ErrClosed, nil)
	}
	t := b.topicLocked(topicName)
	gname := opts.GroupOrDefault()
	g := t.groups[gname]
	if g == nil {
		g = &group{wake: make(chan struct{})}
		for _, s := range t.log {
			switch {
			case opts.Start == brokers.StartLatest:
			case opts.Start == brokers.StartAtTime && s.at.Before(opts.StartTime):
			default:
				g.pending = append(g.pending, &entry{msg: s.msg})
			}
		}
		t.groups[gname] = g
	}
	s := &sub{inflight: map[*entry]struct{}{}, prefetch: opts.PrefetchOrDefault(b.opts.Prefetch)}
	b.subs.Add(1)
	b.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.ctx, cancel)
	out := make(chan *brokers.Delivery)
	go func() {
		defer b.subs.Done()
		defer stop()
		defer cancel()
		defer close(out)
		defer b.release(g, s)
		for {
			e, delay, ok := b.take(ctx, g, s)
			if !ok {
				return
			}
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					b.requeue(g, s, e)
					return
				}
			}
			m := e.msg.Clone()
			d := b.rec.NewDelivery(topicName, m, e.attempts, &acker{b: b, g: g, s: s, e: e})
			select {
			case out <- d:
				b.rec.Consumed(d)
			case <-ctx.Done():
				b.requeue(g, s, e)
				return
			}
		}
	}()
	return out, nil
}

// take waits for a pending entry that s may hold (below its prefetch).
func (b *Broker) take(ctx context.Context, g *group, s *sub) (*entry, time.Duration, bool) {
	for {
		b.mu.Lock()
		if ctx.Err() != nil {
			b.mu.Unlock()
			return nil, 0, false
		}
		if len(g.pending) > 0 && len(s.inflight) < s.prefetch {
			e := g.pending[0]
			g.pending[0] = nil
			g.pending = g.pending[1:]
			e.attempts++
			e.owner = s
			s.inflight[e] = struct{}{}
			d := b.delay
			b.mu.Unlock()
			return e, d, true
		}
		wake := g.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, 0, false
		}
	}
}

// requeue puts an entry back at the head of its group's queue.
func (b *Broker) requeue(g *group, s *sub, e *entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := s.inflight[e]; ok {
		delete(s.inflight, e)
		e.owner = nil
		g.pending = append([]*entry{e}, g.pending...)
		g.signal()
	}
}

// release returns every unacked delivery of a finished subscription to its
// group, in their original order, as a closed AMQP channel would.
func (b *Broker) release(g *group, s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(s.inflight) == 0 {
		return
	}
	back := make([]*entry, 0, len(s.inflight))
	for e := range s.inflight {
		e.owner = nil
		back = append(back, e)
	}
	s.inflight = map[*entry]struct{}{}
	g.pending = append(back, g.pending...)
	g.signal()
}

type acker struct {
	b *Broker
	g *group
	s *sub
	e *entry
}

func (a *acker) settle(op string, requeue bool) error {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	if _, ok := a.s.inflight[a.e]; !ok {
		return brokers.NewError(op, a.b.opts.Name, "", brokers.ErrSettled,
			errors.New("subscription ended; the message was returned to its group"))
	}
	delete(a.s.inflight, a.e)
	a.e.owner = nil
	if requeue {
		a.g.pending = append([]*entry{a.e}, a.g.pending...)
	}
	a.g.signal()
	return nil
}

func (a *acker) Ack(context.Context) error             { return a.settle("ack", false) }
func (a *acker) Nack(_ context.Context, rq bool) error { return a.settle("nack", rq) }

// Close implements brokers.Broker: it ends every subscription (unacked
// deliveries go back to their groups) and waits for their goroutines.
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
	go func() { b.subs.Wait(); close(done) }()
	select {
	case <-done:
		b.rec.SetConnected(false)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memory broker close: %w", ctx.Err())
	}
}

// Pending returns how many messages of topic wait in group (not delivered,
// or nacked back), for assertions in users' tests.
func (b *Broker) Pending(topicName, groupName string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if groupName == "" {
		groupName = brokers.DefaultGroup
	}
	if t := b.topics[topicName]; t != nil {
		if g := t.groups[groupName]; g != nil {
			return len(g.pending)
		}
	}
	return 0
}

// NewTopicName returns a unique topic name, convenient for isolated tests.
func NewTopicName(prefix string) string { return prefix + "-" + uuid.NewString()[:8] }
