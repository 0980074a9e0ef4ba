// Package server implements the Greeter service, and Register wires it
// into a grpc.Server with the gRPC health service and server reflection
// (so grpcurl can call it without the .proto).
package server
