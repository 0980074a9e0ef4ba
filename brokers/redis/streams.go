package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/wire"
)

// Stream entry fields. Headers (CloudEvents attributes included) are one
// field each, "h:<name>", so `redis-cli XRANGE` shows a readable entry.
const (
	fieldPayload = "payload"
	fieldKey     = "key"
	headerPrefix = "h:"
)

func (b *Broker) publishStream(ctx context.Context, topic string, msgs []*brokers.Message) error {
	if len(msgs) == 1 { // the common case: no pipeline bookkeeping
		err := b.c.XAdd(ctx, &goredis.XAddArgs{Stream: topic, MaxLen: b.o.MaxLen, Approx: b.o.MaxLen > 0, Values: encodeEntry(msgs[0])}).Err()
		if err != nil {
			return b.classify("publish", topic, err)
		}
		return nil
	}
	cmds, err := b.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, m := range msgs {
			p.XAdd(ctx, &goredis.XAddArgs{Stream: topic, MaxLen: b.o.MaxLen, Approx: b.o.MaxLen > 0, Values: encodeEntry(m)})
		}
		return nil
	})
	if err != nil {
		for _, c := range cmds {
			if c.Err() != nil {
				return b.classify("publish", topic, c.Err())
			}
		}
		return b.classify("publish", topic, err)
	}
	return nil
}

func encodeEntry(m *brokers.Message) []any {
	// Written field by field rather than through wire.ToHeaders' map: this
	// is the publish hot path.
	v := make([]any, 0, 8+2*len(m.Headers)+10)
	v = append(v, fieldPayload, m.Payload, fieldKey, m.Key,
		headerPrefix+wire.CESpecVersion, "1.0", headerPrefix+wire.CEID, m.ID)
	if !m.Time.IsZero() {
		v = append(v, headerPrefix+wire.CETime, m.Time.UTC().Format(time.RFC3339Nano))
	}
	for _, kv := range [...][2]string{{wire.CESource, m.Source}, {wire.CEType, m.Type}, {wire.CESubject, m.Subject}, {wire.ContentType, m.DataContentType}} {
		if kv[1] != "" {
			v = append(v, headerPrefix+kv[0], kv[1])
		}
	}
	for k, s := range m.Headers {
		v = append(v, headerPrefix+k, s)
	}
	return v
}

func decodeEntry(x goredis.XMessage) *brokers.Message {
	// Fields are mapped straight into the message (no intermediate headers
	// map): this is the consume hot path.
	m := &brokers.Message{Headers: make(map[string]string, len(x.Values))}
	for k, v := range x.Values {
		s, _ := v.(string)
		switch {
		case k == fieldPayload:
			m.Payload = []byte(s)
		case k == fieldKey:
			m.Key = s
		case strings.HasPrefix(k, headerPrefix):
			switch name := k[len(headerPrefix):]; name {
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
			case wire.CESpecVersion:
			default:
				m.Headers[name] = s
			}
		default:
			// An entry written by another tool (redis-cli XADD s * a b):
			// keep its fields as headers.
			m.Headers[k] = s
		}
	}
	if m.ID == "" {
		m.ID = x.ID
	}
	return m
}

type streamSub struct {
	b                       *Broker
	topic, group, consumer  string
	prefetch                int
	out                     chan *brokers.Delivery
	wake                    chan struct{}
	mu                      sync.Mutex
	held                    map[string]bool // entries handed out and not yet settled
	requeue                 []string
	claimCursor, histCursor string
}

func (b *Broker) subscribeStream(ctx context.Context, topic string, opts brokers.SubscribeOptions, done func()) (<-chan *brokers.Delivery, error) {
	start := "0"
	switch opts.Start {
	case brokers.StartLatest:
		start = "$"
	case brokers.StartAtTime:
		start = strconv.FormatInt(opts.StartTime.UnixMilli(), 10) + "-0"
	}
	group := opts.GroupOrDefault()
	err := b.c.XGroupCreateMkStream(ctx, topic, group, start).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, b.classify("subscribe", topic, err)
	}
	consumer := opts.Consumer
	if consumer == "" {
		consumer = "c-" + uuid.NewString()
	}
	s := &streamSub{
		b: b, topic: topic, group: group, consumer: consumer, prefetch: opts.PrefetchOrDefault(b.o.Prefetch),
		// out is buffered up to the prefetch so decoding overlaps with handling.
		out: make(chan *brokers.Delivery, opts.PrefetchOrDefault(b.o.Prefetch)), wake: make(chan struct{}, 1), held: map[string]bool{},
		claimCursor: "0-0", histCursor: "0-0",
	}
	go func() {
		defer done()
		defer close(s.out)
		defer func() {
			// Deliveries still buffered were never seen by the consumer: they
			// stay pending in the group (for XAUTOCLAIM by another consumer,
			// or this consumer name's next subscription).
			for {
				select {
				case d := <-s.out:
					_ = d.Nack(context.Background(), true)
				default:
					return
				}
			}
		}()
		s.run(ctx)
	}()
	return s.out, nil
}

func (s *streamSub) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *streamSub) free() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefetch - len(s.held)
}

func (s *streamSub) run(ctx context.Context) {
	history := true // first deliver what this consumer name left pending in a previous life
	var lastClaim time.Time
	retry := 0
	for ctx.Err() == nil {
		var err error
		var requeued bool
		requeued, err = s.takeRequeue(ctx)
		switch {
		case requeued || err != nil:
		case s.free() <= 0:
			select {
			case <-s.wake:
			case <-ctx.Done():
			}
			continue
		case history:
			history, err = s.readHistory(ctx)
		case time.Since(lastClaim) >= time.Duration(s.b.o.ClaimInterval):
			lastClaim = time.Now()
			err = s.autoclaim(ctx)
		default:
			err = s.readNew(ctx)
		}
		if err != nil && ctx.Err() == nil {
			// Redis unreachable: back off and try again; go-redis redials.
			s.b.rec.SetConnected(false)
			retry++
			select {
			case <-time.After(min(time.Duration(retry)*100*time.Millisecond, 2*time.Second)):
			case <-ctx.Done():
			}
			continue
		}
		retry = 0
	}
}

// takeRequeue re-claims entries nacked with requeue (XCLAIM increments their
// delivery count) and delivers them again. It reports whether there were any.
func (s *streamSub) takeRequeue(ctx context.Context) (bool, error) {
	s.mu.Lock()
	ids := s.requeue
	s.requeue = nil
	s.mu.Unlock()
	if len(ids) == 0 {
		return false, nil
	}
	msgs, err := s.b.c.XClaim(ctx, &goredis.XClaimArgs{Stream: s.topic, Group: s.group, Consumer: s.consumer, Messages: ids}).Result()
	if err != nil {
		s.mu.Lock()
		s.requeue = append(ids, s.requeue...)
		s.mu.Unlock()
		return true, err
	}
	return true, s.deliver(ctx, msgs, true)
}

func (s *streamSub) readHistory(ctx context.Context) (bool, error) {
	n := s.free()
	res, err := s.b.c.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: s.group, Consumer: s.consumer, Streams: []string{s.topic, s.histCursor}, Count: int64(n),
	}).Result()
	if err != nil {
		return true, err
	}
	var msgs []goredis.XMessage
	if len(res) > 0 {
		msgs = res[0].Messages
	}
	if len(msgs) == 0 {
		return false, nil
	}
	s.histCursor = msgs[len(msgs)-1].ID
	return true, s.deliver(ctx, msgs, true)
}

func (s *streamSub) autoclaim(ctx context.Context) error {
	msgs, next, err := s.b.c.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
		Stream: s.topic, Group: s.group, Consumer: s.consumer, MinIdle: time.Duration(s.b.o.ClaimIdle),
		Start: s.claimCursor, Count: int64(max(s.free(), 1)),
	}).Result()
	if err != nil {
		return err
	}
	s.claimCursor = next
	if groups, err := s.b.c.XInfoGroups(ctx, s.topic).Result(); err == nil {
		for _, g := range groups {
			if g.Name == s.group && g.Lag >= 0 {
				s.b.rec.SetLag(s.topic, s.group, -1, g.Lag)
			}
		}
	}
	return s.deliver(ctx, msgs, true)
}

func (s *streamSub) readNew(ctx context.Context) error {
	res, err := s.b.c.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: s.group, Consumer: s.consumer, Streams: []string{s.topic, ">"},
		Count: int64(s.free()), Block: time.Duration(s.b.o.Block),
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	s.b.rec.SetConnected(true)
	if len(res) == 0 {
		return nil
	}
	return s.deliver(ctx, res[0].Messages, false)
}

// deliver hands entries to the consumer. For entries delivered before
// (history, claimed, requeued) the attempt is the group's delivery count
// from XPENDING.
func (s *streamSub) deliver(ctx context.Context, msgs []goredis.XMessage, counted bool) error {
	if len(msgs) == 0 {
		return nil
	}
	counts := map[string]int64{}
	if counted {
		pend, err := s.b.c.XPendingExt(ctx, &goredis.XPendingExtArgs{
			Stream: s.topic, Group: s.group, Consumer: s.consumer,
			Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs)) + 1024,
		}).Result()
		if err == nil {
			for _, p := range pend {
				counts[p.ID] = p.RetryCount
			}
		}
	}
	for _, x := range msgs {
		s.mu.Lock()
		if s.held[x.ID] || x.Values == nil {
			// Still held by this consumer (the claim only reset its idle
			// time), or deleted by trimming.
			s.mu.Unlock()
			continue
		}
		s.held[x.ID] = true
		s.mu.Unlock()
		attempt := 1
		if c, ok := counts[x.ID]; ok && c > 1 {
			attempt = int(c)
		} else if counted {
			attempt = 2
		}
		d := s.b.rec.NewDelivery(s.topic, decodeEntry(x), attempt, &streamAck{s: s, id: x.ID})
		select {
		case s.out <- d:
			s.b.rec.Consumed(d)
		case <-ctx.Done():
			// Left pending in the group: another consumer claims it.
			s.mu.Lock()
			delete(s.held, x.ID)
			s.mu.Unlock()
			return nil
		}
	}
	return nil
}

type streamAck struct {
	s  *streamSub
	id string
}

func (a *streamAck) release() {
	a.s.mu.Lock()
	delete(a.s.held, a.id)
	a.s.mu.Unlock()
	a.s.signal()
}

// Ack is XACK.
func (a *streamAck) Ack(ctx context.Context) error {
	defer a.release()
	if err := a.s.b.c.XAck(ctx, a.s.topic, a.s.group, a.id).Err(); err != nil {
		return a.s.b.classify("ack", a.s.topic, err)
	}
	return nil
}

// Nack with requeue re-claims the entry for immediate redelivery; without,
// it is XACKed (dropped): use the dead-letter middleware to keep it.
func (a *streamAck) Nack(ctx context.Context, requeue bool) error {
	if !requeue {
		return a.Ack(ctx)
	}
	a.s.mu.Lock()
	delete(a.s.held, a.id)
	a.s.requeue = append(a.s.requeue, a.id)
	a.s.mu.Unlock()
	a.s.signal()
	return nil
}
