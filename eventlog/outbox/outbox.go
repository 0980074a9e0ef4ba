package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Message is what the relay hands to a broker.
type Message struct {
	// ID is the event id: the broker's message id, for de-duplication.
	ID string
	// Key is the stream name, so partitioned brokers keep a stream's
	// events on one partition, in order.
	Key     string
	Payload []byte
	Headers map[string]string
}

// Publisher is the broker side. Publish returns nil only once the broker has
// accepted (confirmed) every message.
type Publisher interface {
	Publish(ctx context.Context, topic string, msgs ...Message) error
}

// Header names set on every message.
const (
	HeaderType          = "eventlog-type"
	HeaderStream        = "eventlog-stream"
	HeaderVersion       = "eventlog-version"
	HeaderPosition      = "eventlog-position"
	HeaderTime          = "eventlog-time"
	HeaderSchemaVersion = "eventlog-schema-version"
	HeaderCorrelationID = "correlation-id"
	HeaderCausationID   = "causation-id"
	// MetadataPrefix prefixes each user metadata key.
	MetadataPrefix = "eventlog-meta-"
)

// ToMessage encodes an event as a message (lossless: FromMessage inverts it).
func ToMessage(e eventlog.Event) Message {
	h := map[string]string{
		HeaderType:          e.Type,
		HeaderStream:        e.Stream,
		HeaderVersion:       strconv.FormatInt(e.Version, 10),
		HeaderPosition:      strconv.FormatInt(e.Position, 10),
		HeaderTime:          e.Time.UTC().Format(time.RFC3339Nano),
		HeaderSchemaVersion: strconv.Itoa(e.SchemaVersion),
		HeaderCorrelationID: e.CorrelationID,
		HeaderCausationID:   e.CausationID,
	}
	for k, v := range e.Metadata {
		h[MetadataPrefix+k] = v
	}
	return Message{ID: e.ID.String(), Key: e.Stream, Payload: e.Data, Headers: h}
}

// FromMessage decodes a message made by ToMessage (for consumers, and for
// replication through a broker).
func FromMessage(m Message) (eventlog.Event, error) {
	id, err := uuid.Parse(m.ID)
	if err != nil {
		return eventlog.Event{}, fmt.Errorf("outbox: message id %q: %w", m.ID, err)
	}
	e := eventlog.Event{
		ID: id, Stream: m.Headers[HeaderStream], Type: m.Headers[HeaderType], Data: m.Payload,
		CorrelationID: m.Headers[HeaderCorrelationID], CausationID: m.Headers[HeaderCausationID],
	}
	var errs []error
	num := func(k string) int64 {
		n, err := strconv.ParseInt(m.Headers[k], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s: %w", k, err))
		}
		return n
	}
	e.Version, e.Position, e.SchemaVersion = num(HeaderVersion), num(HeaderPosition), int(num(HeaderSchemaVersion))
	if e.Time, err = time.Parse(time.RFC3339Nano, m.Headers[HeaderTime]); err != nil {
		errs = append(errs, fmt.Errorf("header %s: %w", HeaderTime, err))
	}
	for k, v := range m.Headers {
		if strings.HasPrefix(k, MetadataPrefix) {
			if e.Metadata == nil {
				e.Metadata = map[string]string{}
			}
			e.Metadata[strings.TrimPrefix(k, MetadataPrefix)] = v
		}
	}
	if e.Stream == "" || e.Type == "" {
		errs = append(errs, errors.New("missing stream or type header"))
	}
	if err := errors.Join(errs...); err != nil {
		return eventlog.Event{}, fmt.Errorf("outbox: message %s: %w", m.ID, err)
	}
	return e, nil
}

// Relay copies stored events to a publisher.
type Relay struct {
	// Store is read; Publisher receives.
	Store     eventlog.Store
	Publisher Publisher
	// Name is the relay's checkpoint name in the store (default "outbox").
	Name string
	// Filter selects the events to publish (default all).
	Filter eventlog.Filter
	// Topic names the topic of an event (default its stream's category).
	Topic func(e eventlog.Event) string
	// MaxBackoff caps the wait between failed publishes (default 5s).
	MaxBackoff time.Duration
	Logger     *slog.Logger

	published, failures atomic.Int64
}

// Stats are the relay's counters, for metrics.
type Stats struct{ Published, Failures int64 }

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats { return Stats{r.published.Load(), r.failures.Load()} }

// Run publishes until ctx ends. A publish that fails is retried (with
// backoff) until it succeeds: the relay never skips an event.
func (r *Relay) Run(ctx context.Context) error {
	name := r.Name
	if name == "" {
		name = "outbox"
	}
	topic := r.Topic
	if topic == nil {
		topic = func(e eventlog.Event) string { return eventlog.Category(e.Stream) }
	}
	maxBackoff := r.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Second
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	return r.Store.Subscribe(ctx, eventlog.SubscribeOptions{Name: name, Filter: r.Filter}, func(ctx context.Context, e eventlog.Event) error {
		msg := ToMessage(e)
		backoff := 10 * time.Millisecond
		for {
			err := r.Publisher.Publish(ctx, topic(e), msg)
			if err == nil {
				r.published.Add(1)
				return nil
			}
			r.failures.Add(1)
			log.Warn("outbox: publish failed; retrying", "event", msg.ID, "stream", e.Stream, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff = min(2*backoff, maxBackoff)
		}
	})
}
