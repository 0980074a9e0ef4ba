package kafka

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/wire"
)

// Subscribe implements brokers.Subscriber: it joins the consumer group
// opts.Group on topic and its retry topic. The topic must exist (list it in
// Options.Topics to have it created); the retry and dead-letter topics are
// created with the same partition count when missing.
func (b *Broker) Subscribe(ctx context.Context, topic string, opts brokers.SubscribeOptions) (<-chan *brokers.Delivery, error) {
	if err := brokers.ValidateTopic(topic); err != nil {
		return nil, brokers.NewError("subscribe", b.o.Name, topic, brokers.ErrBadInput, err)
	}
	if err := b.begin("subscribe", topic, &b.subs); err != nil {
		return nil, err
	}
	s, err := b.newSub(ctx, topic, opts)
	if err != nil {
		b.subs.Done()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.subsCtx, cancel)
	go func() {
		defer b.subs.Done()
		defer stop()
		defer cancel()
		defer close(s.out)
		topics := []string{topic, topic + RetrySuffix}
		for ctx.Err() == nil {
			// Consume returns at every rebalance; join again.
			if err := s.group.Consume(ctx, topics, s); err != nil && ctx.Err() == nil {
				b.log.Warn("kafka: consumer group session failed", "topic", topic, "group", s.group, "err", err)
				select {
				case <-time.After(200 * time.Millisecond):
				case <-ctx.Done():
				}
			}
		}
		if err := s.group.Close(); err != nil {
			b.log.Warn("kafka: leaving consumer group", "topic", topic, "err", err)
		}
	}()
	return s.out, nil
}

type sub struct {
	b         *Broker
	topic     string
	groupName string
	group     sarama.ConsumerGroup
	opts      brokers.SubscribeOptions
	out       chan *brokers.Delivery
	sem       chan struct{} // prefetch slots
}

func (b *Broker) newSub(ctx context.Context, topic string, opts brokers.SubscribeOptions) (*sub, error) {
	var parts []int32
	err := runCtx(ctx, func() error {
		if err := b.client.RefreshMetadata(topic); err != nil {
			return err
		}
		var err error
		parts, err = b.client.Partitions(topic)
		return err
	})
	if err != nil {
		return nil, brokers.NewError("subscribe", b.o.Name, topic, brokers.ErrUnroutable,
			fmt.Errorf("topic %q: %w (create it with options.topics)", topic, err))
	}
	for _, suffix := range []string{RetrySuffix, DLQSuffix} {
		if err := b.ensureTopic(ctx, TopicSpec{Name: topic + suffix, Partitions: int32(len(parts))}); err != nil {
			return nil, err
		}
	}
	cfg := *b.cfg
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	if opts.Start == brokers.StartLatest || opts.Start == brokers.StartAtTime {
		cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	g := opts.GroupOrDefault()
	group, err := sarama.NewConsumerGroup(b.addrs, g, &cfg)
	if err != nil {
		return nil, b.classify("subscribe", topic, err)
	}
	return &sub{
		b: b, topic: topic, groupName: g, group: group, opts: opts,
		out: make(chan *brokers.Delivery), sem: make(chan struct{}, opts.PrefetchOrDefault(b.o.Prefetch)),
	}, nil
}

// Setup positions partitions the group has no committed offset for at the
// requested start time.
func (s *sub) Setup(sess sarama.ConsumerGroupSession) error {
	if s.opts.Start != brokers.StartAtTime {
		return nil
	}
	claims := sess.Claims()
	committed, err := s.b.admin.ListConsumerGroupOffsets(s.groupName, claims)
	if err != nil {
		return fmt.Errorf("fetch committed offsets: %w", err)
	}
	for topic, parts := range claims {
		for _, p := range parts {
			if blk := committed.GetBlock(topic, p); blk != nil && blk.Offset >= 0 {
				continue
			}
			off, err := s.b.client.GetOffset(topic, p, s.opts.StartTime.UnixMilli())
			if err != nil {
				return fmt.Errorf("offset for time on %s/%d: %w", topic, p, err)
			}
			// A new group's partition has no offset yet (-1): MarkOffset
			// moves it forward to off, where the claim will start.
			sess.MarkOffset(topic, p, off, "")
		}
	}
	return nil
}

// Cleanup implements sarama.ConsumerGroupHandler.
func (s *sub) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim delivers one partition's messages in order.
func (s *sub) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	tr := &tracker{done: map[int64]bool{}}
	retry := claim.Topic() == s.topic+RetrySuffix
	defer s.drain(tr)
	ctx := sess.Context()
	for {
		var m *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			m = msg
		}
		if retry {
			if wait := time.Until(m.Timestamp.Add(s.b.o.RetryDelay.Or(time.Second))); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return nil
				}
			}
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		tr.add(m.Offset)
		if !retry {
			s.b.rec.SetLag(s.topic, s.groupName, m.Partition, claim.HighWaterMarkOffset()-m.Offset-1)
		}
		msg, attempt := fromRecord(m)
		a := &acker{s: s, sess: sess, tr: tr, m: m, attempt: attempt}
		d := s.b.rec.NewDelivery(s.topic, msg, attempt, a)
		a.d = d
		select {
		case s.out <- d:
			s.b.rec.Consumed(d)
		case <-ctx.Done():
			tr.unadd()
			<-s.sem
			return nil
		}
	}
}

// drain gives handlers DrainTimeout to settle a revoked partition's
// deliveries, so their offsets are committed before the next owner starts.
func (s *sub) drain(tr *tracker) {
	deadline := time.Now().Add(s.b.o.DrainTimeout.Or(5 * time.Second))
	for !tr.empty() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

func fromRecord(m *sarama.ConsumerMessage) (*brokers.Message, int) {
	h := make(map[string]string, len(m.Headers)+2)
	attempt := 1
	for _, rh := range m.Headers {
		if rh == nil {
			continue
		}
		k := string(rh.Key)
		if k == headerAttempt {
			if n, err := strconv.Atoi(string(rh.Value)); err == nil {
				attempt = n
			}
			continue
		}
		h[k] = string(rh.Value)
	}
	msg := wire.FromHeaders(h, m.Value)
	msg.Key = string(m.Key)
	if msg.ID == "" {
		msg.ID = fmt.Sprintf("%s-%d-%d", m.Topic, m.Partition, m.Offset)
	}
	if msg.Time.IsZero() {
		msg.Time = m.Timestamp
	}
	msg.SetHeader("x-kafka-partition", strconv.Itoa(int(m.Partition)))
	msg.SetHeader("x-kafka-offset", strconv.FormatInt(m.Offset, 10))
	return msg, attempt
}

// tracker marks a partition's offset for commit only up to the first
// delivery not yet settled, so out-of-order acks never skip a message.
type tracker struct {
	mu   sync.Mutex
	offs []int64 // delivered, in order, not yet below the commit mark
	done map[int64]bool
}

func (t *tracker) add(off int64) {
	t.mu.Lock()
	t.offs = append(t.offs, off)
	t.mu.Unlock()
}

// unadd forgets the last offset added, which was never delivered.
func (t *tracker) unadd() {
	t.mu.Lock()
	t.offs = t.offs[:len(t.offs)-1]
	t.mu.Unlock()
}

// settle records off as handled and returns the next offset to commit, if
// the mark advanced.
func (t *tracker) settle(off int64) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[off] = true
	var next int64
	advanced := false
	for len(t.offs) > 0 && t.done[t.offs[0]] {
		delete(t.done, t.offs[0])
		next, advanced = t.offs[0]+1, true
		t.offs = t.offs[1:]
	}
	return next, advanced
}

func (t *tracker) empty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.offs) == 0
}

type acker struct {
	s       *sub
	sess    sarama.ConsumerGroupSession
	tr      *tracker
	m       *sarama.ConsumerMessage
	attempt int
	d       *brokers.Delivery // the delivery it settles, to mark a nack to the DLQ topic
}

func (a *acker) settle() error {
	<-a.s.sem
	next, ok := a.tr.settle(a.m.Offset)
	if ok {
		a.sess.MarkOffset(a.m.Topic, a.m.Partition, next, "")
	}
	if a.sess.Context().Err() != nil {
		return brokers.NewError("ack", a.s.b.o.Name, a.s.topic, brokers.ErrSettled,
			fmt.Errorf("partition %d was revoked; the next owner may redeliver offset %d", a.m.Partition, a.m.Offset))
	}
	return nil
}

// Ack marks the offset (committed once all before it are settled).
func (a *acker) Ack(context.Context) error { return a.settle() }

// Nack republishes to the retry topic (requeue) or the dead-letter topic,
// then settles the offset. If that publish fails the offset stays
// unsettled, so the message is redelivered after a rebalance or restart.
func (a *acker) Nack(ctx context.Context, requeue bool) error {
	pm := &sarama.ProducerMessage{Key: sarama.ByteEncoder(a.m.Key), Value: sarama.ByteEncoder(a.m.Value), Timestamp: time.Now()}
	for _, h := range a.m.Headers {
		if h != nil && string(h.Key) != headerAttempt {
			pm.Headers = append(pm.Headers, *h)
		}
	}
	if requeue {
		pm.Topic = a.s.topic + RetrySuffix
		pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(headerAttempt), Value: []byte(strconv.Itoa(a.attempt + 1))})
	} else {
		pm.Topic = a.s.topic + DLQSuffix
		pm.Headers = append(pm.Headers,
			sarama.RecordHeader{Key: []byte(HeaderOriginalTopic), Value: []byte(a.s.topic)},
			sarama.RecordHeader{Key: []byte(HeaderDLQReason), Value: []byte("nack")},
			sarama.RecordHeader{Key: []byte("x-dlq-attempts"), Value: []byte(strconv.Itoa(a.attempt))})
	}
	if err := a.s.b.send(ctx, pm.Topic, []*sarama.ProducerMessage{pm}); err != nil {
		<-a.s.sem
		return fmt.Errorf("nack: republish to %s: %w", pm.Topic, err)
	}
	if !requeue {
		a.d.MarkDeadLettered()
	}
	return a.settle()
}
