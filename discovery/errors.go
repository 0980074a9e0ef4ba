package discovery

import "errors"

// Typed errors let callers decide what to do without parsing messages:
// test them with errors.Is; backends wrap them with context.
var (
	// ErrNotFound means the instance or service named does not exist in the
	// backend (Deregister or SetStatus of an unknown id).
	ErrNotFound = errors.New("discovery: not found")
	// ErrUnavailable means the backend cannot be reached right now; the
	// call may succeed when retried later.
	ErrUnavailable = errors.New("discovery: backend unavailable")
	// ErrConflict means the request contradicts existing state, such as an
	// instance id already registered by someone else for another service.
	ErrConflict = errors.New("discovery: conflict")
	// ErrUnsupported means the backend cannot do this by design (Kubernetes
	// and static lists do not accept registrations: the platform or the
	// config owns the instance set).
	ErrUnsupported = errors.New("discovery: not supported by this backend")
	// ErrPermissionDenied means the backend refused our credentials (an
	// ACL token without the rights needed, a Kubernetes RBAC rule).
	ErrPermissionDenied = errors.New("discovery: permission denied")
	// ErrInvalid means the argument or the config is malformed.
	ErrInvalid = errors.New("discovery: invalid")
	// ErrClosed means the registry was closed.
	ErrClosed = errors.New("discovery: registry closed")
)
