package client

import "errors"

// Errors callers test with errors.Is, whatever the protocol: the gRPC
// status codes (see client/grpcmesh) and the SDK's own failures map onto
// them, so a caller writes one retry or fallback rule for HTTP and gRPC.
var (
	ErrCanceled           = errors.New("canceled")
	ErrUnknown            = errors.New("unknown error")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrDeadlineExceeded   = errors.New("deadline exceeded")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrPermissionDenied   = errors.New("permission denied")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrAborted            = errors.New("aborted")
	ErrOutOfRange         = errors.New("out of range")
	ErrUnimplemented      = errors.New("unimplemented")
	ErrInternal           = errors.New("internal error")
	ErrUnavailable        = errors.New("unavailable")
	ErrDataLoss           = errors.New("data loss")
	ErrUnauthenticated    = errors.New("unauthenticated")
)

// The SDK's own failures. Each also matches ErrUnavailable, since to a
// caller they mean the same: no upstream could take the request now.
var (
	// ErrNoEndpoints: the resolver knows the service but lists no endpoint.
	ErrNoEndpoints = &sdkError{"no endpoints", ErrUnavailable}
	// ErrCircuitOpen: every endpoint's breaker refused the request.
	ErrCircuitOpen = &sdkError{"circuit open", ErrUnavailable}
	// ErrUnknownService: the resolver does not know the service.
	ErrUnknownService = &sdkError{"unknown service", ErrNotFound}
)

type sdkError struct {
	msg  string
	kind error
}

func (e *sdkError) Error() string { return "client: " + e.msg }
func (e *sdkError) Unwrap() error { return e.kind }
