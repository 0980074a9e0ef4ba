package middleware

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

// Headers a dead-letter message carries besides the original headers.
const (
	HeaderDLQOriginalTopic  = "x-dlq-original-topic"
	HeaderDLQError          = "x-dlq-error"
	HeaderDLQAttempts       = "x-dlq-attempts"
	HeaderDLQHandlerRetries = "x-dlq-handler-attempts"
	HeaderDLQTime           = "x-dlq-time"
	HeaderDLQPermanent      = "x-dlq-permanent"
)

// DeadLetterOptions configure DeadLetter.
type DeadLetterOptions struct {
	// MaxAttempts is the delivery attempt (brokers.Delivery.Attempt) at which
	// a failing message is dead-lettered instead of nacked again (default 5).
	MaxAttempts int
}

// DeadLetter publishes a message whose handler failed for the MaxAttempts-th
// delivery, or failed with a Permanent error, to topic on pub, then acks
// the original. The dead-letter message keeps the original id, key, payload,
// CloudEvents attributes and headers, and adds the original topic, the
// error, the attempt count and the time. If the dead-letter publish fails,
// the handler error is returned so the broker keeps the message.
//
// A dead-lettered delivery is marked (Delivery.MarkDeadLettered), so the
// metrics of the broker that delivered it count it as settled by
// dead_letter and its processing as failed: no options needed, the
// delivery knows its broker.
func DeadLetter(pub brokers.Publisher, topic string, o DeadLetterOptions) brokers.Middleware {
	if o.MaxAttempts < 1 {
		o.MaxAttempts = 5
	}
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) error {
			err := next(ctx, d)
			if err == nil {
				return nil
			}
			permanent := brokers.IsPermanent(err)
			if !permanent && d.Attempt < o.MaxAttempts {
				return err
			}
			dl := d.Message.Clone()
			dl.SetHeader(HeaderDLQOriginalTopic, d.Topic)
			dl.SetHeader(HeaderDLQError, err.Error())
			dl.SetHeader(HeaderDLQAttempts, strconv.Itoa(d.Attempt))
			dl.SetHeader(HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
			dl.SetHeader(HeaderDLQPermanent, strconv.FormatBool(permanent))
			var re *RetryError
			if errors.As(err, &re) {
				dl.SetHeader(HeaderDLQHandlerRetries, strconv.Itoa(re.Attempts))
			}
			if perr := pub.Publish(context.WithoutCancel(ctx), topic, dl); perr != nil {
				return fmt.Errorf("dead-letter to %s failed (%w) after handler error: %w", topic, perr, err)
			}
			d.MarkDeadLettered()
			return nil
		}
	}
}
