package cqrs

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

var (
	// ErrNoHandler means no handler is registered for the command or query type.
	ErrNoHandler = errors.New("cqrs: no handler")
	// ErrInvalid matches every validation failure (a *ValidationError).
	ErrInvalid = errors.New("cqrs: invalid command")
	// ErrRejected matches every business rejection (a *RejectedError).
	ErrRejected = errors.New("cqrs: command rejected")
)

// Validator is implemented by commands that can check themselves before any
// state is loaded; a failure never reaches the handler.
type Validator interface {
	Validate() error
}

// ValidationError says why a command is malformed.
type ValidationError struct {
	Command string
	Err     error
}

// Error names the command and the problem.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("cqrs: invalid %s: %v", e.Command, e.Err)
}

// Unwrap returns the validator's error.
func (e *ValidationError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// RejectedError is a command refused by the domain (the state forbids it),
// as opposed to a failure: retrying will not help.
type RejectedError struct{ Reason string }

// Error gives the domain's reason.
func (e *RejectedError) Error() string { return "cqrs: rejected: " + e.Reason }

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Reject builds a *RejectedError; Decide functions return it.
func Reject(format string, args ...any) error {
	return &RejectedError{Reason: fmt.Sprintf(format, args...)}
}

// CommandBus routes commands by Go type to their one handler.
type CommandBus struct {
	mu       sync.RWMutex
	handlers map[reflect.Type]func(context.Context, any) error
}

// NewCommandBus returns an empty bus.
func NewCommandBus() *CommandBus {
	return &CommandBus{handlers: make(map[reflect.Type]func(context.Context, any) error)}
}

// Handle registers h as the handler of commands of type C. A second handler
// for the same type is an error: a command has exactly one owner.
func Handle[C any](b *CommandBus, h func(ctx context.Context, cmd C) error) error {
	t := reflect.TypeFor[C]()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.handlers[t]; dup {
		return fmt.Errorf("cqrs: command %s already has a handler", t)
	}
	b.handlers[t] = func(ctx context.Context, cmd any) error { return h(ctx, cmd.(C)) }
	return nil
}

// Dispatch validates cmd and runs its handler.
func (b *CommandBus) Dispatch(ctx context.Context, cmd any) error {
	t := reflect.TypeOf(cmd)
	b.mu.RLock()
	h, ok := b.handlers[t]
	b.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w for command %v", ErrNoHandler, t)
	}
	if v, ok := cmd.(Validator); ok {
		if err := v.Validate(); err != nil {
			return &ValidationError{Command: t.String(), Err: err}
		}
	}
	return h(ctx, cmd)
}

// QueryBus routes queries by Go type to their handler. Handlers read read
// models (projections), never the event store.
type QueryBus struct {
	mu       sync.RWMutex
	handlers map[reflect.Type]func(context.Context, any) (any, error)
}

// NewQueryBus returns an empty bus.
func NewQueryBus() *QueryBus {
	return &QueryBus{handlers: make(map[reflect.Type]func(context.Context, any) (any, error))}
}

// HandleQuery registers h for queries of type Q answering R.
func HandleQuery[Q, R any](b *QueryBus, h func(ctx context.Context, q Q) (R, error)) error {
	t := reflect.TypeFor[Q]()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.handlers[t]; dup {
		return fmt.Errorf("cqrs: query %s already has a handler", t)
	}
	b.handlers[t] = func(ctx context.Context, q any) (any, error) { return h(ctx, q.(Q)) }
	return nil
}

// Ask runs the handler of q and returns its typed answer.
func Ask[R, Q any](ctx context.Context, b *QueryBus, q Q) (R, error) {
	var zero R
	t := reflect.TypeFor[Q]()
	b.mu.RLock()
	h, ok := b.handlers[t]
	b.mu.RUnlock()
	if !ok {
		return zero, fmt.Errorf("%w for query %v", ErrNoHandler, t)
	}
	r, err := h(ctx, q)
	if err != nil {
		return zero, err
	}
	out, ok := r.(R)
	if !ok {
		return zero, fmt.Errorf("cqrs: query %v answers %T, not %v", t, r, reflect.TypeFor[R]())
	}
	return out, nil
}
