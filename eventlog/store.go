package eventlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ExpectedVersion is the optimistic-concurrency condition of an append: the
// stream's current version must match it or the append fails with
// ErrConcurrency and writes nothing.
type ExpectedVersion int64

const (
	// Any appends whatever the stream's version (no concurrency check).
	Any ExpectedVersion = -1
	// NoStream appends only if the stream has no events yet.
	NoStream ExpectedVersion = 0
)

// Exact expects the stream's last event to have version v (v = 0 is
// NoStream).
func Exact(v int64) ExpectedVersion { return ExpectedVersion(v) }

// String renders the condition for errors and logs.
func (e ExpectedVersion) String() string {
	switch {
	case e == Any:
		return "any"
	case e == NoStream:
		return "no-stream"
	default:
		return fmt.Sprintf("%d", int64(e))
	}
}

// ParseExpectedVersion is String's inverse ("any", "no-stream" or a
// version number), for HTTP headers and command lines.
func ParseExpectedVersion(s string) (ExpectedVersion, error) {
	switch s {
	case "any", "":
		return Any, nil
	case "no-stream":
		return NoStream, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w: expected version %q: want any, no-stream or a version >= 0", ErrInvalid, s)
	}
	return Exact(v), nil
}

// Check reports whether a stream at version current satisfies the condition.
func (e ExpectedVersion) Check(current int64) bool {
	return e == Any || int64(e) == current
}

// StreamEnd, as the start of a backward read, means "from the newest event".
const StreamEnd int64 = math.MaxInt64

var (
	// ErrConcurrency matches (errors.Is) every *ConcurrencyError.
	ErrConcurrency = errors.New("eventlog: stream version conflict")
	// ErrDuplicateEvent means an event id is already stored but the append is
	// not an exact retry of the append that stored it (another stream,
	// another place, or only part of the batch).
	ErrDuplicateEvent = errors.New("eventlog: event id already used by another append")
	// ErrCorrupt means stored data failed its checksum or could not be
	// decoded; the store never returns such data as an event.
	ErrCorrupt = errors.New("eventlog: corrupt data")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("eventlog: store closed")
	// ErrInvalid means the request itself is malformed (empty stream or type,
	// duplicate ids in one append, no events).
	ErrInvalid = errors.New("eventlog: invalid request")
)

// ConcurrencyError is the typed form of a version conflict, carrying what was
// expected and what the stream really is, so a caller can reload and retry.
type ConcurrencyError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64
}

// Error describes the conflict.
func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("eventlog: stream %q is at version %d, expected %s", e.Stream, e.Actual, e.Expected)
}

// Is makes errors.Is(err, ErrConcurrency) true.
func (e *ConcurrencyError) Is(target error) bool { return target == ErrConcurrency }

// Direction of a stream read.
type Direction int

const (
	// Forward reads from older to newer events.
	Forward Direction = iota
	// Backward reads from newer to older events.
	Backward
)

// Handler receives subscription events. Returning an error stops the
// subscription (and Subscribe returns it); the event is not checkpointed, so
// it is delivered again to the next subscriber with the same name.
type Handler func(ctx context.Context, e Event) error

// SubscribeOptions say what a subscription delivers and where it starts.
type SubscribeOptions struct {
	// Name identifies the subscriber. A named subscriber's checkpoint (the
	// global position of the last event it handled) is stored in the store
	// and a later Subscribe with the same name resumes after it. An empty
	// name keeps no checkpoint.
	Name string
	// Filter selects the events: AllStreams (the default), StreamFilter or
	// CategoryFilter.
	Filter Filter
	// From is the global position to start after when no checkpoint is
	// stored (0 = from the first event).
	From int64
}

// Store is the contract every backend implements and the conformance suite
// (eventlog/storetest) checks.
type Store interface {
	// Append writes events to the end of stream if its version satisfies
	// expected; all or nothing. Missing ids, times and correlation/causation
	// ids are filled (see Event). An append whose event ids are already
	// stored as exactly this append returns the original result and writes
	// nothing. A version conflict returns a *ConcurrencyError.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...Event) (AppendResult, error)
	// ReadStream returns up to limit events of stream starting at version
	// from, in dir order (Backward from StreamEnd reads the newest first).
	// A missing stream reads as empty.
	ReadStream(ctx context.Context, stream string, from int64, dir Direction, limit int) ([]Event, error)
	// ReadAll returns up to limit events in global order with Position >= from.
	ReadAll(ctx context.Context, from int64, limit int) ([]Event, error)
	// Head returns the global position of the last stored event (0 if none).
	Head(ctx context.Context) (int64, error)
	// Subscribe delivers the events selected by opts, first those already
	// stored after the start (catch-up) and then new ones as they are
	// appended (live), in global order, saving the checkpoint as it goes.
	// It blocks until ctx is done (returning ctx.Err()) or h fails.
	// Delivery is at least once: after a crash up to one batch is repeated.
	Subscribe(ctx context.Context, opts SubscribeOptions, h Handler) error
	// Checkpoint returns the stored checkpoint of subscriber name (0 if none).
	Checkpoint(ctx context.Context, name string) (int64, error)
	// SaveCheckpoint stores a subscriber's checkpoint; 0 resets it, which is
	// how a projection is rebuilt from scratch.
	SaveCheckpoint(ctx context.Context, name string, position int64) error
	// SaveSnapshot stores s as the latest snapshot of s.Stream.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns the latest snapshot of stream, if any.
	LoadSnapshot(ctx context.Context, stream string) (Snapshot, bool, error)
	// Close releases the store; it waits for appends in flight.
	Close() error
}
