package redis

import (
	"context"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/internal/wire"
)

// envelope is how a message travels on a Pub/Sub channel, which carries one
// string. The payload is "data" when it is valid UTF-8 (readable with
// redis-cli SUBSCRIBE) and "data_base64" otherwise, as in CloudEvents' JSON
// format. A published string that is not an envelope (redis-cli PUBLISH ch
// hello) is delivered as the payload with a generated id.
type envelope struct {
	Wasmesh    int               `json:"wasmesh"`
	Key        string            `json:"key,omitempty"`
	Headers    map[string]string `json:"headers"`
	Data       *string           `json:"data,omitempty"`
	DataBase64 []byte            `json:"data_base64,omitempty"`
}

func encodeEnvelope(m *brokers.Message) ([]byte, error) {
	e := envelope{Wasmesh: 1, Key: m.Key, Headers: wire.ToHeaders(m)}
	if utf8.Valid(m.Payload) {
		s := string(m.Payload)
		e.Data = &s
	} else {
		e.DataBase64 = m.Payload
	}
	return json.Marshal(e)
}

func decodeEnvelope(s string) *brokers.Message {
	var e envelope
	if strings.HasPrefix(s, `{"wasmesh":1`) && json.Unmarshal([]byte(s), &e) == nil && e.Wasmesh == 1 {
		payload := e.DataBase64
		if e.Data != nil {
			payload = []byte(*e.Data)
		}
		m := wire.FromHeaders(e.Headers, payload)
		m.Key = e.Key
		return m
	}
	return &brokers.Message{ID: uuid.NewString(), Payload: []byte(s), Headers: map[string]string{}}
}

func (b *Broker) publishPubSub(ctx context.Context, topic string, msgs []*brokers.Message) error {
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		var err error
		if bodies[i], err = encodeEnvelope(m); err != nil {
			return brokers.NewError("publish", b.o.Name, topic, brokers.ErrBadInput, err)
		}
	}
	cmds, err := b.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, body := range bodies {
			p.Publish(ctx, topic, body)
		}
		return nil
	})
	if err != nil {
		return b.classify("publish", topic, err)
	}
	if b.o.RequireSubscribers {
		for _, c := range cmds {
			if n, _ := c.(*goredis.IntCmd).Result(); n == 0 {
				return brokers.NewError("publish", b.o.Name, topic, brokers.ErrUnroutable, errNoSubscribers)
			}
		}
	}
	return nil
}

var errNoSubscribers = errorString("no subscriber received the message")

type errorString string

func (e errorString) Error() string { return string(e) }

// isPattern reports whether a topic is a PSUBSCRIBE glob pattern.
func isPattern(topic string) bool { return strings.ContainsAny(topic, "*?[") }

type nopAck struct{}

func (nopAck) Ack(context.Context) error        { return nil }
func (nopAck) Nack(context.Context, bool) error { return nil }

func (b *Broker) subscribePubSub(ctx context.Context, topic string, opts brokers.SubscribeOptions, done func()) (<-chan *brokers.Delivery, error) {
	var ps *goredis.PubSub
	if isPattern(topic) {
		ps = b.c.PSubscribe(ctx, topic)
	} else {
		ps = b.c.Subscribe(ctx, topic)
	}
	// Wait for the subscription to be confirmed, so a publish made after
	// Subscribe returns is received.
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, b.classify("subscribe", topic, err)
	}
	in := ps.Channel(goredis.WithChannelSize(opts.PrefetchOrDefault(b.o.Prefetch) * 4))
	out := make(chan *brokers.Delivery)
	go func() {
		defer done()
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				msg := decodeEnvelope(m.Payload)
				if m.Pattern != "" {
					msg.SetHeader("x-redis-channel", m.Channel)
				}
				d := b.rec.NewDelivery(topic, msg, 1, nopAck{})
				select {
				case out <- d:
					b.rec.Consumed(d)
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
