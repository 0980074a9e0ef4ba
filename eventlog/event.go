package eventlog

import (
	"time"

	"github.com/google/uuid"
)

// Event is one immutable fact in a stream. A caller fills Type, Data and,
// when it wants them, ID (to make retries idempotent), SchemaVersion and
// Metadata; the store fills the rest at append time, so every event carries
// the same audit trail whichever code wrote it.
type Event struct {
	// ID identifies the event everywhere (UUIDv7, so ids sort by time). A
	// caller that sets it makes the append idempotent: a retry with the same
	// ids writes nothing twice. Filled by the store when zero.
	ID uuid.UUID `json:"id"`
	// Stream is the stream the event belongs to, for example "order-42".
	// The part before the first '-' is the stream's category ("order").
	Stream string `json:"stream"`
	// Type names what happened, for example "OrderPlaced".
	Type string `json:"type"`
	// Version is the event's 1-based number within its stream.
	Version int64 `json:"version"`
	// Position is the event's 1-based number in the store's global order.
	Position int64 `json:"position"`
	// Time is when the event was appended (UTC, microsecond precision so it
	// round-trips through every backend unchanged). Kept if already set,
	// which replication relies on.
	Time time.Time `json:"time"`
	// CorrelationID ties together everything caused by one original request
	// or message. Taken from the context (see WithCorrelationID); when the
	// context has none, the event starts a new chain and uses its own id.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the request, message or event that directly
	// caused this one. Taken from the context (see WithCausationID).
	CausationID string `json:"causation_id,omitempty"`
	// SchemaVersion is the version of Data's shape, so readers can upcast or
	// ignore old shapes. Zero is stored as 1.
	SchemaVersion int `json:"schema_version"`
	// Metadata is free-form user metadata (tenant, user id, trace parent).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Data is the payload, opaque to the store (usually JSON; base64 in
	// the JSON form of an Event).
	Data []byte `json:"data,omitempty"`
}

// Category returns the stream's category: the part of the stream name before
// the first '-', or the whole name when it has none. Category subscriptions
// use it, so "order-1" and "order-2" are both in category "order".
func Category(stream string) string {
	for i := 0; i < len(stream); i++ {
		if stream[i] == '-' {
			return stream[:i]
		}
	}
	return stream
}

// NewEvent builds an event of the given type and payload. It exists so call
// sites read as intent; the store fills the remaining fields at append time.
func NewEvent(eventType string, data []byte) Event {
	return Event{Type: eventType, Data: data}
}

// AppendResult reports where an append landed. A retried (idempotent) append
// returns the result of the original one.
type AppendResult struct {
	// FirstVersion and LastVersion are the stream versions of the first and
	// last appended events.
	FirstVersion, LastVersion int64
	// FirstPosition and LastPosition are their global positions.
	FirstPosition, LastPosition int64
}

// Snapshot is an aggregate's state folded up to a stream version, saved so
// loading does not replay the whole stream. SchemaVersion names the shape of
// Data; a loader ignores snapshots whose shape is not the current one.
type Snapshot struct {
	Stream        string
	Version       int64
	SchemaVersion int
	Time          time.Time
	Data          []byte
}
