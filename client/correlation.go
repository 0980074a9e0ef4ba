package client

import "context"

// DefaultCorrelationHeader carries the correlation id, the id that ties
// together every call made for one user action across services.
const DefaultCorrelationHeader = "X-Correlation-ID"

type correlationKey struct{}

// WithCorrelationID returns a context whose outgoing calls carry id. A
// server handler typically copies the incoming id here, so that its own
// calls continue the chain.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the id set by WithCorrelationID, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

type retryUnsafeKey struct{}

// AllowRetry returns a context under which a non-idempotent request (a
// POST, say) may be retried, for a caller who knows the server
// de-duplicates it.
func AllowRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, retryUnsafeKey{}, true)
}

func retryAllowed(ctx context.Context) bool {
	v, _ := ctx.Value(retryUnsafeKey{}).(bool)
	return v
}
