package prep

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Events returns copies of events ready to store in stream: ids (UUIDv7),
// time, correlation and causation ids (from ctx) and schema version filled
// where missing. Version and Position are left to the backend.
func Events(ctx context.Context, stream string, events []eventlog.Event) ([]eventlog.Event, error) {
	if stream == "" {
		return nil, fmt.Errorf("%w: empty stream name", eventlog.ErrInvalid)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: append to %q with no events", eventlog.ErrInvalid, stream)
	}
	corr, cause := eventlog.CorrelationID(ctx), eventlog.CausationID(ctx)
	now := time.Now().UTC().Truncate(time.Microsecond)
	out := make([]eventlog.Event, len(events))
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		if e.Type == "" {
			return nil, fmt.Errorf("%w: event %d of %q has no type", eventlog.ErrInvalid, i, stream)
		}
		if e.ID == uuid.Nil {
			id, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("eventlog: new event id: %w", err)
			}
			e.ID = id
		}
		if _, dup := seen[e.ID]; dup {
			return nil, fmt.Errorf("%w: event id %s twice in one append", eventlog.ErrInvalid, e.ID)
		}
		seen[e.ID] = struct{}{}
		e.Stream = stream
		e.Version, e.Position = 0, 0
		if e.Time.IsZero() {
			e.Time = now
		} else {
			e.Time = e.Time.UTC().Truncate(time.Microsecond)
		}
		if e.CorrelationID == "" {
			e.CorrelationID = corr
		}
		if e.CorrelationID == "" {
			e.CorrelationID = e.ID.String()
		}
		if e.CausationID == "" {
			e.CausationID = cause
		}
		if e.SchemaVersion == 0 {
			e.SchemaVersion = 1
		}
		if len(e.Metadata) == 0 {
			e.Metadata = nil
		}
		out[i] = e
	}
	return out, nil
}
