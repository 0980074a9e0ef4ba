// Package greeterpb holds the generated Go code of greeter.proto (messages
// and gRPC stubs). Regenerate with `make proto`; the output is committed so
// that building and testing never need protoc.
package greeterpb
