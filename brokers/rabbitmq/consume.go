package rabbitmq

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/backoff"
	"github.com/wasmesh/wasmesh/brokers/internal/wire"
)

// Subscribe implements brokers.Subscriber: topic is a queue name. The
// group option is ignored (a queue already is a group: its consumers
// compete); declare one queue per group bound to the same exchange for
// fan-out. The subscription survives reconnects: it re-opens its channel
// and consumer on every new connection.
func (b *Broker) Subscribe(ctx context.Context, topic string, opts brokers.SubscribeOptions) (<-chan *brokers.Delivery, error) {
	if err := brokers.ValidateTopic(topic); err != nil {
		return nil, brokers.NewError("subscribe", b.o.Name, topic, brokers.ErrBadInput, err)
	}
	if err := b.begin("subscribe", topic, &b.subs); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.subsCtx, cancel)
	prefetch := opts.PrefetchOrDefault(b.o.Prefetch)
	// out is buffered up to the prefetch (RabbitMQ never sends more unacked
	// deliveries than that), so converting deliveries overlaps with handling.
	s := &consumer{b: b, queue: topic, prefetch: prefetch, out: make(chan *brokers.Delivery, prefetch)}
	s.tag = opts.Consumer
	if s.tag == "" {
		s.tag = "wasmesh-" + uuid.NewString()
	}
	// Open the first channel now, so a missing queue fails Subscribe.
	ch, deliveries, err := s.open(ctx)
	if err != nil {
		stop()
		cancel()
		b.subs.Done()
		return nil, err
	}
	go func() {
		defer b.subs.Done()
		defer stop()
		defer cancel()
		s.run(ctx, ch, deliveries)
	}()
	return s.out, nil
}

type consumer struct {
	b        *Broker
	queue    string
	tag      string
	prefetch int
	out      chan *brokers.Delivery
	held     sync.WaitGroup // deliveries handed out and not settled
}

func (s *consumer) open(ctx context.Context) (*amqp.Channel, <-chan amqp.Delivery, error) {
	c, _, err := s.b.current(ctx)
	if err != nil {
		return nil, nil, brokers.NewError("subscribe", s.b.o.Name, s.queue, brokers.ErrUnavailable, err)
	}
	ch, err := c.Channel()
	if err != nil {
		return nil, nil, s.b.classify("subscribe", s.queue, err)
	}
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		_ = ch.Close()
		return nil, nil, s.b.classify("subscribe", s.queue, err)
	}
	d, err := ch.Consume(s.queue, s.tag, false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, nil, s.b.classify("subscribe", s.queue, fmt.Errorf("consume queue %q: %w", s.queue, err))
	}
	return ch, d, nil
}

func (s *consumer) run(ctx context.Context, ch *amqp.Channel, deliveries <-chan amqp.Delivery) {
	defer func() {
		// Deliveries still buffered in out were never seen by the consumer:
		// give them back now rather than after DrainTimeout.
		for done := false; !done; {
			select {
			case d := <-s.out:
				_ = d.Nack(context.Background(), true)
			default:
				done = true
			}
		}
		close(s.out)
		if ch != nil {
			s.drain(ch)
		}
	}()
	var lagTick <-chan time.Time
	if s.b.o.LagInterval >= 0 && s.b.rec.Enabled() {
		t := time.NewTicker(s.b.o.LagInterval.Or(15 * time.Second))
		defer t.Stop()
		lagTick = t.C
	}
	for {
		select {
		case <-lagTick:
			s.reportLag(ctx)
		case <-ctx.Done():
			return
		case d, ok := <-deliveries:
			if !ok {
				// Channel or connection lost: unacked deliveries return to
				// the queue; open a new channel once reconnected.
				ch = nil
				pol := backoff.Policy{Base: 200 * time.Millisecond, Max: s.b.o.ReconnectMax.Or(10 * time.Second)}
				for n := 0; ch == nil; n++ {
					if ctx.Err() != nil {
						return
					}
					var err error
					if ch, deliveries, err = s.open(ctx); err != nil {
						// E.g. the queue was deleted: keep trying, slower and slower.
						s.b.log.Warn("rabbitmq: resume consumer failed", "queue", s.queue, "attempt", n+1, "err", err)
						if backoff.Sleep(ctx, pol.Delay(n)) != nil {
							return
						}
					}
				}
				continue
			}
			s.held.Add(1)
			del := s.b.rec.NewDelivery(s.queue, toMessage(d), attempt(d), &acker{s: s, d: d})
			select {
			case s.out <- del:
				s.b.rec.Consumed(del)
			case <-ctx.Done():
				s.held.Done()
				_ = d.Nack(false, true)
				return
			}
		}
	}
}

// reportLag publishes the queue's ready (not yet delivered) message count,
// read with a passive declare on a short-lived channel so that an error
// cannot close the consuming channel.
func (s *consumer) reportLag(ctx context.Context) {
	c, _, err := s.b.current(ctx)
	if err != nil {
		return
	}
	ch, err := c.Channel()
	if err != nil {
		return
	}
	defer ch.Close()
	if q, err := ch.QueueDeclarePassive(s.queue, false, false, false, false, nil); err == nil {
		s.b.rec.SetLag(s.queue, "", -1, int64(q.Messages))
	}
}

// drain stops the consumer, waits up to DrainTimeout for handlers to settle
// what they hold, then closes the channel (RabbitMQ requeues the rest).
func (s *consumer) drain(ch *amqp.Channel) {
	_ = ch.Cancel(s.tag, false)
	done := make(chan struct{})
	go func() { s.held.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.b.o.DrainTimeout.Or(5 * time.Second)):
	}
	_ = ch.Close()
}

type acker struct {
	s    *consumer
	d    amqp.Delivery
	once sync.Once
}

func (a *acker) done() { a.once.Do(a.s.held.Done) }

func (a *acker) Ack(context.Context) error {
	defer a.done()
	if err := a.d.Ack(false); err != nil {
		return brokers.NewError("ack", a.s.b.o.Name, a.s.queue, brokers.ErrSettled,
			fmt.Errorf("channel gone, RabbitMQ will redeliver: %w", err))
	}
	return nil
}

func (a *acker) Nack(_ context.Context, requeue bool) error {
	defer a.done()
	if err := a.d.Nack(false, requeue); err != nil {
		return brokers.NewError("nack", a.s.b.o.Name, a.s.queue, brokers.ErrSettled,
			fmt.Errorf("channel gone, RabbitMQ will redeliver: %w", err))
	}
	return nil
}

// attempt is exact for quorum queues (x-delivery-count) and 1 or 2 for
// classic queues, which only flag a redelivery.
func attempt(d amqp.Delivery) int {
	switch n := d.Headers["x-delivery-count"].(type) {
	case int64:
		return int(n) + 1
	case int32:
		return int(n) + 1
	case int:
		return n + 1
	}
	if d.Redelivered {
		return 2
	}
	return 1
}

func toMessage(d amqp.Delivery) *brokers.Message {
	// Headers are mapped straight into the message fields (no intermediate
	// map): this is the consume hot path.
	m := &brokers.Message{Payload: d.Body, Key: d.RoutingKey, Headers: make(map[string]string, len(d.Headers))}
	for k, v := range d.Headers {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		case int64:
			s = strconv.FormatInt(x, 10)
		case int32:
			s = strconv.FormatInt(int64(x), 10)
		case bool:
			s = strconv.FormatBool(x)
		case time.Time:
			s = x.UTC().Format(time.RFC3339Nano)
		default:
			// Tables and arrays (x-death) are broker bookkeeping, not user
			// headers; they are not carried over.
			continue
		}
		switch k {
		case wire.CEID:
			m.ID = s
		case wire.CESource:
			m.Source = s
		case wire.CEType:
			m.Type = s
		case wire.CESubject:
			m.Subject = s
		case wire.ContentType:
			m.DataContentType = s
		case wire.CETime:
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				m.Time = t
			}
		case wire.CESpecVersion, "x-delivery-count":
		default:
			m.Headers[k] = s
		}
	}
	if m.ID == "" {
		m.ID = d.MessageId
	}
	if m.Type == "" {
		m.Type = d.Type
	}
	if m.DataContentType == "" {
		m.DataContentType = d.ContentType
	}
	if m.Time.IsZero() {
		m.Time = d.Timestamp
	}
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	return m
}
