// Package client is Wasmesh's in-process SDK: the mesh's client-side
// behaviour for services that call others without a sidecar.
//
// For HTTP, [NewTransport] returns an [http.RoundTripper] that turns a
// logical service name in the URL (http://orders/v1/...) into a live
// endpoint: it resolves the name with a [Resolver], balances each request
// with the same policies as meshd (package dataplane/lb), breaks circuits
// per endpoint, retries with exponential backoff, full jitter and a retry
// budget, enforces connect, response-header and total timeouts, propagates
// W3C trace context and a correlation id, adds a bearer token from a
// [TokenSource], and records Prometheus metrics ([Metrics]).
//
// For gRPC, package client/grpcmesh adds a mesh:/// resolver, interceptors
// and credentials; it maps gRPC status codes to the errors of this package
// (errors.Is(err, client.ErrUnavailable)). Package client/jwtauth verifies
// the tokens on the receiving side, for gRPC and HTTP.
package client
