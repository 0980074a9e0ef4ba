package brokers

import (
	"context"
	"sync/atomic"
	"time"
)

// Acknowledger settles one delivery with its broker. Adapters implement it;
// users call Delivery.Ack and Delivery.Nack instead.
type Acknowledger interface {
	Ack(ctx context.Context) error
	Nack(ctx context.Context, requeue bool) error
}

// Delivery is one message handed to a consumer. It must be settled exactly
// once with Ack or Nack; a second call returns ErrSettled.
type Delivery struct {
	// Message is the message as received; adapters restore every field
	// published, CloudEvents attributes and headers included.
	Message *Message
	// Topic is the topic the subscription was made on.
	Topic string
	// Attempt counts deliveries of this message to the group, starting at 1,
	// as far as the broker can tell (RabbitMQ classic queues only know "1" or
	// "more than 1"; see each README).
	Attempt int

	ack     Acknowledger
	system  string // set by Serve; see System
	settled atomic.Bool
	dead    atomic.Bool
	series  *consumerSeries // nil without metrics (Recorder.NewDelivery sets it)
}

// System is the messaging system the delivery came from (rabbitmq, kafka,
// redis, memory), so middleware such as the consumer span can say so; it
// is known when the delivery reached the handler through Serve from a
// broker (every adapter has a System method), and empty otherwise.
func (d *Delivery) System() string { return d.system }

// NewDelivery is for adapters: it binds a message to the Acknowledger that
// settles it.
func NewDelivery(topic string, msg *Message, attempt int, ack Acknowledger) *Delivery {
	if attempt < 1 {
		attempt = 1
	}
	return &Delivery{Message: msg, Topic: topic, Attempt: attempt, ack: ack}
}

// Ack tells the broker the message was handled; it will not be delivered again.
func (d *Delivery) Ack(ctx context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return ErrSettled
	}
	err := d.ack.Ack(ctx)
	if err == nil && d.series != nil {
		d.countSettled(d.series.ack)
	}
	return err
}

// Nack tells the broker the message was not handled. With requeue it is
// delivered again (to this or another consumer of the group); without, it is
// dropped or dead-lettered by the broker's own policy (a RabbitMQ DLX).
func (d *Delivery) Nack(ctx context.Context, requeue bool) error {
	if !d.settled.CompareAndSwap(false, true) {
		return ErrSettled
	}
	err := d.ack.Nack(ctx, requeue)
	if err == nil && d.series != nil {
		d.countSettled(d.series.nack)
	}
	return err
}

// MarkDeadLettered records that the client moved this message to a
// dead-letter destination (middleware.DeadLetter, the Kafka adapter's DLQ
// topic), so that the Ack or Nack settling it counts in the metrics as
// settled by dead_letter, and its processing as failed, instead of as an
// ordinary ack. Call it before settling; it changes nothing else.
func (d *Delivery) MarkDeadLettered() { d.dead.Store(true) }

// DeadLettered reports whether MarkDeadLettered was called.
func (d *Delivery) DeadLettered() bool { return d.dead.Load() }

func (d *Delivery) countSettled(c interface{ Inc() }) {
	if d.dead.Load() {
		c = d.series.dead
	}
	c.Inc()
}

// observeProcess records how long the handler ran for d, as failed when
// it returned an error or dead-lettered the message.
func (d *Delivery) observeProcess(took time.Duration, herr error) {
	if d.series != nil {
		d.series.process[outcomeIndex(herr != nil || d.dead.Load())].Observe(took.Seconds())
	}
}

// Settled reports whether Ack or Nack was already called.
func (d *Delivery) Settled() bool { return d.settled.Load() }
