// Package greeter is the example gRPC service of the repository: one
// method of each kind of call (unary, server streaming, client streaming,
// bidirectional), a server with reflection and health, and a client that
// uses the SDK (client/grpcmesh). Its tests run every kind of call through
// the SDK against real loopback servers.
package greeter
