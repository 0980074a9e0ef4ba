package eventlog

import "context"

type ctxKey int

const (
	correlationKey ctxKey = iota
	causationKey
)

// WithCorrelationID returns a context whose appended events carry id as their
// correlation id. Entry points (an HTTP request, a consumed message) set it
// once so every event they cause can be traced back to them.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey, id)
}

// WithCausationID returns a context whose appended events carry id as their
// causation id: the id of the thing that directly caused them.
func WithCausationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, causationKey, id)
}

// CorrelationID returns the correlation id set on ctx, or "".
func CorrelationID(ctx context.Context) string {
	s, _ := ctx.Value(correlationKey).(string)
	return s
}

// CausationID returns the causation id set on ctx, or "".
func CausationID(ctx context.Context) string {
	s, _ := ctx.Value(causationKey).(string)
	return s
}

// CausedBy returns a context for work done in reaction to e: the same
// correlation id as e, and e's id as causation id. Handlers, projections and
// sagas use it so the chain of cause and effect is recorded without effort.
func CausedBy(ctx context.Context, e Event) context.Context {
	ctx = WithCorrelationID(ctx, e.CorrelationID)
	return WithCausationID(ctx, e.ID.String())
}
