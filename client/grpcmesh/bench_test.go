package grpcmesh_test

import (
	"context"
	"testing"
	"time"

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

// BenchmarkUnaryPaired alternates a plain grpc-go call and an SDK call per
// iteration and times them separately (see client.BenchmarkRoundTripPaired
// for why). Reports plain-ns/op, sdk-ns/op and overhead-ns/op.
func BenchmarkUnaryPaired(b *testing.B) {
	addr, _ := startGreeter(b, "bench", grpcmesh.WithInsecure())
	pconn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer pconn.Close()
	sconn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", addr), grpcmesh.WithInsecure(),
		grpcmesh.WithMetrics(grpcmesh.NewMetrics()))
	if err != nil {
		b.Fatal(err)
	}
	defer sconn.Close()
	plain, sdk := pb.NewGreeterClient(pconn), pb.NewGreeterClient(sconn)
	ctx := context.Background()
	req := &pb.HelloRequest{Name: "bench"}
	do := func(g pb.GreeterClient) time.Duration {
		start := time.Now()
		if _, err := g.SayHello(ctx, req); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	do(plain)
	do(sdk)
	var tp, ts time.Duration
	n := 0
	for b.Loop() {
		tp += do(plain)
		ts += do(sdk)
		n++
	}
	b.ReportMetric(float64(tp.Nanoseconds())/float64(n), "plain-ns/op")
	b.ReportMetric(float64(ts.Nanoseconds())/float64(n), "sdk-ns/op")
	b.ReportMetric(float64((ts-tp).Nanoseconds())/float64(n), "overhead-ns/op")
}
