package brokers

import (
	"errors"
	"fmt"
)

// The error kinds every adapter reports, so that callers (the meshd gateway
// mapping them to 503, 4xx, ...) never have to know which broker they talk
// to. Test with errors.Is.
var (
	// ErrUnavailable: the broker cannot be reached or did not confirm; the
	// operation may succeed if retried later.
	ErrUnavailable = errors.New("broker unavailable")
	// ErrUnroutable: the broker is up but has nowhere to put the message
	// (no bound queue, missing exchange or topic).
	ErrUnroutable = errors.New("message unroutable")
	// ErrClosed: the Broker (or the subscription) was closed by its owner.
	ErrClosed = errors.New("broker closed")
	// ErrBadInput: the caller passed something the broker will never accept
	// (empty topic, bad header, bad config). Retrying does not help.
	ErrBadInput = errors.New("bad input")
	// ErrSettled: Ack or Nack was called on a delivery already settled, or
	// whose channel or session is gone (the broker will redeliver it).
	ErrSettled = errors.New("delivery already settled")
)

// Error wraps an adapter failure with the operation, broker and topic so a
// log line says where it happened; its Kind is one of the sentinel errors
// above and is what errors.Is matches.
type Error struct {
	Op     string // "publish", "subscribe", "ack", "nack", "health", "open"
	Broker string // the broker's configured name, when known
	Topic  string
	Kind   error // one of ErrUnavailable, ErrUnroutable, ErrClosed, ErrBadInput, ErrSettled
	Err    error // the underlying cause, may be nil
}

// Error formats op, broker, topic, kind and cause on one line for logs.
func (e *Error) Error() string {
	s := e.Op
	if e.Broker != "" {
		s += " " + e.Broker
	}
	if e.Topic != "" {
		s += " " + e.Topic
	}
	s += ": " + e.Kind.Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// NewError builds an *Error; adapters use it so every failure carries its kind.
func NewError(op, broker, topic string, kind, cause error) error {
	return &Error{Op: op, Broker: broker, Topic: topic, Kind: kind, Err: cause}
}

// permanentError marks a handler failure that no retry can fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return "permanent: " + p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks a handler error as not worth retrying: Serve nacks the
// delivery without requeue, and the dead-letter middleware dead-letters it at
// once (the gateway uses it for a 4xx the app marked permanent).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err (or anything it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Errorf is fmt.Errorf with a kind: the result matches errors.Is(kind).
func Errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
