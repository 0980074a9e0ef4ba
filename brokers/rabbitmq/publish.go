package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/wire"
)

// chunk is how many messages one channel has unconfirmed at once. The
// channel's return buffer holds chunk entries, so the connection's reader
// never blocks on it (see publishChunk).
const chunk = 256

// pubChan is a confirm-mode channel with its return and close listeners.
type pubChan struct {
	ch      *amqp.Channel
	gen     uint64
	returns chan amqp.Return
	closed  chan *amqp.Error
	dead    bool // set by the one publisher holding it
}

func (p *pubChan) broken() bool {
	if p.dead || p.ch.IsClosed() {
		return true
	}
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// pool lends confirm-mode channels to publishers, one publisher per channel
// at a time, so a return received before a confirm surely belongs to the
// publisher holding the channel.
type pool struct {
	b    *Broker
	sem  chan struct{}
	mu   sync.Mutex
	idle []*pubChan
}

func newPool(b *Broker, n int) *pool { return &pool{b: b, sem: make(chan struct{}, n)} }

func (p *pool) get(ctx context.Context) (*pubChan, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		c, gen, err := p.b.current(ctx)
		if err != nil {
			<-p.sem
			return nil, err
		}
		p.mu.Lock()
		var pc *pubChan
		for len(p.idle) > 0 && pc == nil {
			pc = p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			if pc.gen != gen || pc.broken() {
				_ = pc.ch.Close()
				pc = nil
			}
		}
		p.mu.Unlock()
		if pc != nil {
			return pc, nil
		}
		ch, err := c.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			// The connection is going down; wait for the manager.
			if ch != nil {
				_ = ch.Close()
			}
			select {
			case <-time.After(20 * time.Millisecond):
				continue
			case <-ctx.Done():
				<-p.sem
				return nil, ctx.Err()
			}
		}
		return &pubChan{
			ch: ch, gen: gen,
			returns: ch.NotifyReturn(make(chan amqp.Return, chunk+1)),
			closed:  ch.NotifyClose(make(chan *amqp.Error, 1)),
		}, nil
	}
}

// put returns a channel to the pool; a broken one is dropped.
func (p *pool) put(pc *pubChan, healthy bool) {
	if healthy && !pc.broken() {
		p.mu.Lock()
		p.idle = append(p.idle, pc)
		p.mu.Unlock()
	} else {
		_ = pc.ch.Close()
	}
	<-p.sem
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.idle {
		_ = pc.ch.Close()
	}
	p.idle = nil
}

// Publish implements brokers.Publisher with publisher confirms and the
// mandatory flag. If the connection drops, unconfirmed messages are sent
// again on the next connection until ctx (or PublishTimeout) expires, so a
// message may reach the queue twice but a nil return means all are stored.
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
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.o.PublishTimeout.Or(30*time.Second))
		defer cancel()
	}
	err := b.publish(ctx, topic, msgs)
	b.rec.Published(topic, len(msgs), start, err)
	return err
}

func (b *Broker) publish(ctx context.Context, topic string, msgs []*brokers.Message) error {
	pending := msgs
	var unroutable []string
	for len(pending) > 0 {
		pc, err := b.pool.get(ctx)
		if err != nil {
			if errors.Is(err, brokers.ErrClosed) {
				return brokers.NewError("publish", b.o.Name, topic, brokers.ErrClosed, err)
			}
			return brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnavailable, err)
		}
		for len(pending) > 0 {
			n := min(len(pending), chunk)
			ret, err := b.publishChunk(ctx, pc, topic, pending[:n])
			if err != nil {
				b.pool.put(pc, false)
				if retryable(ctx, err) {
					break // same messages again on a fresh channel
				}
				return err
			}
			unroutable = append(unroutable, ret...)
			pending = pending[n:]
		}
		if len(pending) == 0 {
			b.pool.put(pc, true)
		}
	}
	if len(unroutable) > 0 {
		return brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnroutable,
			fmt.Errorf("%d of %d messages returned by the broker (no queue bound for their routing key), first id %s",
				len(unroutable), len(msgs), unroutable[0]))
	}
	return nil
}

// errLost marks a chunk whose channel or connection died before confirming.
var errLost = errors.New("channel closed before confirm")

func retryable(ctx context.Context, err error) bool {
	return errors.Is(err, errLost) && ctx.Err() == nil
}

// publishChunk publishes msgs on pc and waits for every confirm. It returns
// the ids the broker returned as unroutable. RabbitMQ sends basic.return
// before the basic.ack of the same message, and the connection's reader
// puts the return in pc.returns (buffered for a whole chunk) before it
// processes the ack, so after the last confirm every return is buffered.
func (b *Broker) publishChunk(ctx context.Context, pc *pubChan, topic string, msgs []*brokers.Message) ([]string, error) {
	dcs := make([]*amqp.DeferredConfirmation, len(msgs))
	toQueue := b.isQueueOnly(topic)
	for i, m := range msgs {
		exchange, key := topic, m.Key
		if toQueue {
			exchange, key = "", topic
		}
		dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, b.publishing(m))
		if err != nil {
			if ctx.Err() != nil {
				return nil, brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnavailable, ctx.Err())
			}
			return nil, errLost
		}
		dcs[i] = dc
	}
	for _, dc := range dcs {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return nil, brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnavailable, fmt.Errorf("waiting for confirm: %w", err))
		}
		if !ok {
			select {
			case cerr := <-pc.closed:
				if cerr != nil && cerr.Code == amqp.NotFound {
					return nil, b.classify("publish", topic, cerr)
				}
				pc.dead = true
				return nil, errLost
			default:
			}
			if pc.ch.IsClosed() {
				return nil, errLost
			}
			return nil, brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnavailable, errors.New("broker nacked the message"))
		}
	}
	var ids []string
	for {
		select {
		case r := <-pc.returns:
			ids = append(ids, r.MessageId)
		default:
			return ids, nil
		}
	}
}

func (b *Broker) publishing(m *brokers.Message) amqp.Publishing {
	// The table is built directly (not through wire.ToHeaders' map): this is
	// the publish hot path.
	t := make(amqp.Table, len(m.Headers)+7)
	for k, v := range m.Headers {
		t[k] = v
	}
	t[wire.CESpecVersion] = "1.0"
	t[wire.CEID] = m.ID
	if !m.Time.IsZero() {
		t[wire.CETime] = m.Time.UTC().Format(time.RFC3339Nano)
	}
	for _, kv := range [...][2]string{{wire.CESource, m.Source}, {wire.CEType, m.Type}, {wire.CESubject, m.Subject}, {wire.ContentType, m.DataContentType}} {
		if kv[1] != "" {
			t[kv[0]] = kv[1]
		}
	}
	mode := amqp.Persistent
	if b.o.Transient {
		mode = amqp.Transient
	}
	return amqp.Publishing{
		Headers: t, ContentType: m.DataContentType, DeliveryMode: mode, MessageId: m.ID,
		Timestamp: m.Time, Type: m.Type, CorrelationId: m.Headers[brokers.HeaderCorrelationID], Body: m.Payload,
	}
}
