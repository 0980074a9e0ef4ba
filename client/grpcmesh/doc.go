// Package grpcmesh brings the mesh's client behaviour to grpc-go: a
// resolver for mesh:///service-name targets fed by a client.Resolver,
// balancers built on dataplane/lb, interceptors for logging, metrics,
// correlation ids and error mapping, OpenTelemetry tracing (otelgrpc),
// JWT per-RPC credentials and server-side JWT verification, and (m)TLS
// credentials from files that are reloaded when they change.
//
//	conn, err := grpcmesh.NewClient("mesh:///greeter", resolver,
//		grpcmesh.WithTLS(client.TLSFiles{...}), grpcmesh.WithTokenSource(ts))
//
// Errors returned through the interceptors match the client package's
// sentinels: errors.Is(err, client.ErrUnavailable), and still carry the
// gRPC status (status.FromError, details included).
package grpcmesh
