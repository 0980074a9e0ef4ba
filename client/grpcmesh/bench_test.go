package grpcmesh_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wasmesh/wasmesh/client/grpcmesh"
	pb "github.com/wasmesh/wasmesh/examples/greeter/greeterpb"
)

// BenchmarkUnary compares unary calls to the same loopback Greeter through
// plain grpc-go and through the SDK (mesh resolver, interceptors with
// metrics, otelgrpc stats handler, correlation id).
//
//	go test -run '^$' -bench Unary -benchmem ./client/grpcmesh/
func BenchmarkUnary(b *testing.B) {
	addr, _ := startGreeter(b, "bench", grpcmesh.WithInsecure())
	run := func(b *testing.B, conn *grpc.ClientConn) {
		g := pb.NewGreeterClient(conn)
		ctx := context.Background()
		req := &pb.HelloRequest{Name: "bench"}
		if _, err := g.SayHello(ctx, req); err != nil { // connect first
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := g.SayHello(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		run(b, conn)
	})
	b.Run("sdk", func(b *testing.B) {
		conn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", addr), grpcmesh.WithInsecure(),
			grpcmesh.WithMetrics(grpcmesh.NewMetrics()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		run(b, conn)
	})
	b.Run("sdk-least_request", func(b *testing.B) {
		conn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", addr), grpcmesh.WithInsecure(),
			grpcmesh.WithMetrics(grpcmesh.NewMetrics()), grpcmesh.WithBalancer("least_request"))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		run(b, conn)
	})
}
