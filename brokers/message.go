package brokers

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Header names that every adapter understands. Trace context uses the W3C
// names so that an OpenTelemetry propagator can read and write the headers
// map directly; correlation ids use the de-facto standard name.
const (
	HeaderTraceParent   = "traceparent"
	HeaderTraceState    = "tracestate"
	HeaderCorrelationID = "correlation-id"
)

// Message is one message as published and as delivered. The CloudEvents
// attributes (id, source, type, subject, time, datacontenttype) are fields
// rather than headers so that every adapter can map them to its transport's
// binary-mode binding; everything else, trace context included, travels in
// Headers.
type Message struct {
	// ID identifies the message (the CloudEvents "id"). Publish fills it with
	// a random UUID when empty; de-duplication relies on it.
	ID string
	// Key groups messages that must stay in order (Kafka partition key,
	// RabbitMQ routing key, stored with Redis stream entries).
	Key string
	// Payload is the body, opaque to the broker.
	Payload []byte
	// Headers are string key/value pairs carried beside the payload.
	Headers map[string]string

	// Source is the CloudEvents "source" attribute (a URI-reference).
	Source string
	// Type is the CloudEvents "type" attribute.
	Type string
	// Subject is the CloudEvents "subject" attribute.
	Subject string
	// Time is the CloudEvents "time" attribute; Publish sets it to now when zero.
	Time time.Time
	// DataContentType is the CloudEvents "datacontenttype" (a MIME type).
	DataContentType string

	partition    int32
	hasPartition bool
}

// NewMessage returns a message with a fresh id, the given payload and an
// empty headers map, ready to have attributes set.
func NewMessage(payload []byte) *Message {
	return &Message{ID: uuid.NewString(), Payload: payload, Headers: map[string]string{}}
}

// SetPartition asks adapters that have partitions (Kafka) to write the
// message to partition p instead of choosing one from Key. Adapters without
// partitions ignore it.
func (m *Message) SetPartition(p int32) { m.partition, m.hasPartition = p, true }

// Partition returns the partition requested with SetPartition, if any.
// (A delivered Kafka message carries where it was read from in the
// x-kafka-partition and x-kafka-offset headers instead, so republishing a
// delivered message does not pin it to a partition.)
func (m *Message) Partition() (int32, bool) { return m.partition, m.hasPartition }

// Header returns the header value for name, or "" when absent. It is safe on a
// nil headers map.
func (m *Message) Header(name string) string { return m.Headers[name] }

// SetHeader sets one header, allocating the map when needed.
func (m *Message) SetHeader(name, value string) {
	if m.Headers == nil {
		m.Headers = map[string]string{}
	}
	m.Headers[name] = value
}

// TraceParent returns the W3C traceparent header, so publishers and
// deliveries can be joined into one trace.
func (m *Message) TraceParent() string { return m.Headers[HeaderTraceParent] }

// Clone returns a deep copy, so a middleware can change headers of a copy
// (for a dead-letter message, say) without touching the delivered message.
func (m *Message) Clone() *Message {
	c := *m
	c.Payload = append([]byte(nil), m.Payload...)
	c.Headers = maps.Clone(m.Headers)
	return &c
}

// Prepare fills the defaults every adapter applies before publishing (a
// UUID id and the current time) and validates the message; adapters call it
// so that all of them reject the same bad input with ErrBadInput.
func (m *Message) Prepare() error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrBadInput)
	}
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	if m.Time.IsZero() {
		m.Time = time.Now().UTC()
	}
	for k := range m.Headers {
		if k == "" || strings.ContainsAny(k, "\r\n") {
			return fmt.Errorf("%w: invalid header name %q", ErrBadInput, k)
		}
	}
	if tp := m.Headers[HeaderTraceParent]; tp != "" && !validTraceParent(tp) {
		return fmt.Errorf("%w: malformed traceparent %q", ErrBadInput, tp)
	}
	return nil
}

// validTraceParent checks the W3C shape version-traceid-parentid-flags
// (2-32-16-2 lower-case hex digits).
func validTraceParent(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 4 {
		return false
	}
	want := []int{2, 32, 16, 2}
	for i, n := range want {
		if len(parts[i]) != n {
			return false
		}
		for _, c := range parts[i] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// ValidateTopic rejects the empty topic; adapters add their own rules.
func ValidateTopic(topic string) error {
	if strings.TrimSpace(topic) == "" {
		return fmt.Errorf("%w: empty topic", ErrBadInput)
	}
	return nil
}
