package brokers

import (
	"context"
	"time"
)

// Publisher sends messages to a topic. What a topic names depends on the
// adapter (a RabbitMQ exchange or queue, a Kafka topic, a Redis stream or
// channel); each adapter's README says.
type Publisher interface {
	// Publish sends msgs to topic and returns only once the broker confirmed
	// every one of them (publisher confirms, acks=all, XADD reply). On error
	// none, some or all may have been stored: publishing is at-least-once, so
	// retry the whole call and let consumers de-duplicate by Message.ID.
	// Publish fills an empty Message.ID and a zero Time in place.
	Publish(ctx context.Context, topic string, msgs ...*Message) error
}

// Subscriber receives messages from a topic.
type Subscriber interface {
	// Subscribe starts consuming topic and returns the channel of
	// deliveries. The channel is closed when ctx is cancelled or the broker is
	// closed; deliveries that were not acked by then are redelivered by the
	// broker (to this or another consumer). Every delivery must be settled
	// with Ack or Nack.
	Subscribe(ctx context.Context, topic string, opts SubscribeOptions) (<-chan *Delivery, error)
}

// Broker is one configured connection to a message broker: what the
// registry builds from config and what meshd holds by name.
type Broker interface {
	Publisher
	Subscriber
	// Health returns nil when the broker is connected and usable; meshd's
	// /ready reports it.
	Health(ctx context.Context) error
	// Features says what the adapter guarantees; callers and the conformance
	// suite adapt to it.
	Features() Features
	// System names the kind of broker (SystemRabbitMQ, SystemKafka,
	// SystemRedis, SystemMemory): the messaging_system metric label and the
	// messaging.system attribute of spans, so a trace or a dashboard says
	// which kind of broker a named connection is.
	System() string
	// Close stops accepting publishes, waits for publishes in flight to be
	// confirmed, ends every subscription (closing their channels) and
	// releases the connection. It returns when done or when ctx expires.
	// Close is safe to call more than once.
	Close(ctx context.Context) error
}

// Features declares an adapter's guarantees, after Watermill's: the
// conformance suite skips what an adapter does not promise, and the meshd
// gateway refuses, for example, ordered delivery on a broker without it.
type Features struct {
	// Persistent: messages published while nobody consumes are kept and
	// delivered later (false for Redis Pub/Sub).
	Persistent bool
	// Acknowledged: Nack(requeue) redelivers and an unacked message is
	// redelivered after its consumer goes away (false for Redis Pub/Sub).
	Acknowledged bool
	// OrderedByKey: one consumer sees messages with the same key in publish
	// order (as long as none is nacked).
	OrderedByKey bool
	// ConsumerGroups: subscriptions with different SubscribeOptions.Group each
	// receive every message, and subscriptions sharing a group share the
	// messages. Without it every subscription on a topic competes.
	ConsumerGroups bool
	// Unroutable: Publish fails with ErrUnroutable when nothing can receive
	// the message (RabbitMQ mandatory returns).
	Unroutable bool
}

// StartPosition says where a new consumer group starts reading a log-like
// topic (Kafka, Redis Streams, the in-memory broker). Queues (RabbitMQ)
// ignore it.
type StartPosition int

const (
	// StartEarliest reads everything still retained. It is the default so
	// that a group created after the first publish misses nothing.
	StartEarliest StartPosition = iota
	// StartLatest reads only messages published after the group was created.
	StartLatest
	// StartAtTime reads messages published at or after SubscribeOptions.StartTime.
	StartAtTime
)

// SubscribeOptions tune one subscription. The zero value is a fine default.
type SubscribeOptions struct {
	// Group is the consumer group; subscriptions in one group share the
	// messages. Empty means the adapter's default group ("default").
	Group string
	// Consumer names this consumer inside its group (Redis Streams,
	// diagnostics); empty means a generated unique name.
	Consumer string
	// Prefetch bounds the unacked deliveries this subscription holds; 0 means
	// the adapter default (usually 32).
	Prefetch int
	// Start and StartTime apply when the group is new.
	Start     StartPosition
	StartTime time.Time
}

// DefaultGroup is the group used when SubscribeOptions.Group is empty.
const DefaultGroup = "default"

// GroupOrDefault returns Group, or DefaultGroup when Group is empty.
func (o SubscribeOptions) GroupOrDefault() string {
	if o.Group == "" {
		return DefaultGroup
	}
	return o.Group
}

// PrefetchOrDefault returns Prefetch, or def when Prefetch is not positive.
func (o SubscribeOptions) PrefetchOrDefault(def int) int {
	if o.Prefetch <= 0 {
		return def
	}
	return o.Prefetch
}
