package grpcmesh

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/client"
)

var codeErr = map[codes.Code]error{
	codes.Canceled:           client.ErrCanceled,
	codes.Unknown:            client.ErrUnknown,
	codes.InvalidArgument:    client.ErrInvalidArgument,
	codes.DeadlineExceeded:   client.ErrDeadlineExceeded,
	codes.NotFound:           client.ErrNotFound,
	codes.AlreadyExists:      client.ErrAlreadyExists,
	codes.PermissionDenied:   client.ErrPermissionDenied,
	codes.ResourceExhausted:  client.ErrResourceExhausted,
	codes.FailedPrecondition: client.ErrFailedPrecondition,
	codes.Aborted:            client.ErrAborted,
	codes.OutOfRange:         client.ErrOutOfRange,
	codes.Unimplemented:      client.ErrUnimplemented,
	codes.Internal:           client.ErrInternal,
	codes.Unavailable:        client.ErrUnavailable,
	codes.DataLoss:           client.ErrDataLoss,
	codes.Unauthenticated:    client.ErrUnauthenticated,
}

// StatusError is a gRPC error seen through the client package's sentinels.
// errors.Is(err, client.ErrNotFound) tests the code; status.FromError and
// status.Code still work, and Status().Details() gives the details.
type StatusError struct {
	st *status.Status
}

// Error reads like grpc-go's own status errors.
func (e *StatusError) Error() string { return e.st.Err().Error() }

// Unwrap returns the sentinel of the code.
func (e *StatusError) Unwrap() error { return codeErr[e.st.Code()] }

// GRPCStatus lets status.FromError and status.Code see the status.
func (e *StatusError) GRPCStatus() *status.Status { return e.st }

// Status is the full status, details included.
func (e *StatusError) Status() *status.Status { return e.st }

// Code is the status code.
func (e *StatusError) Code() codes.Code { return e.st.Code() }

// MapError turns a gRPC error into a *StatusError; nil stays nil, and an
// error that is no status and no context error is returned unchanged. The
// interceptors of NewClient call it on every error already.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	var se *StatusError
	if errors.As(err, &se) {
		return err
	}
	if st, ok := status.FromError(err); ok {
		if st.Code() == codes.OK {
			return nil
		}
		return &StatusError{st: st}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &StatusError{st: status.FromContextError(err)}
	}
	return err
}

// ToStatus is the server side of the mapping: a handler returns an error
// wrapping a client sentinel (fmt.Errorf("%w: order %d", client.ErrNotFound,
// id)) and the server interceptor sends the matching code. Errors that
// already carry a status keep it; others become UNKNOWN.
func ToStatus(err error) *status.Status {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	for code, sentinel := range codeErr {
		if errors.Is(err, sentinel) {
			return status.New(code, err.Error())
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err)
	}
	return status.New(codes.Unknown, err.Error())
}
