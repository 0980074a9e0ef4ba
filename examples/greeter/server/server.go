package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/wasmesh/wasmesh/client"
	pb "github.com/wasmesh/wasmesh/examples/greeter/greeterpb"
)

// MaxCount caps LotsOfReplies, so one request cannot ask for an endless
// stream.
const MaxCount = 100000

// Greeter implements pb.GreeterServer. Name tells replies which server
// answered, to watch load balancing.
type Greeter struct {
	pb.UnimplementedGreeterServer
	Name string
}

// SayHello greets once. An empty name is INVALID_ARGUMENT (through the
// client.ErrInvalidArgument sentinel and grpcmesh's server interceptor).
func (g *Greeter) SayHello(_ context.Context, r *pb.HelloRequest) (*pb.HelloReply, error) {
	if r.GetName() == "" {
		return nil, fmt.Errorf("%w: name is empty", client.ErrInvalidArgument)
	}
	return &pb.HelloReply{Message: "Hello " + r.GetName(), ServedBy: g.Name, Payload: r.GetPayload()}, nil
}

// LotsOfReplies sends count replies, stopping early if the client goes.
func (g *Greeter) LotsOfReplies(r *pb.HelloRequest, s grpc.ServerStreamingServer[pb.HelloReply]) error {
	n := int(r.GetCount())
	if n < 0 || n > MaxCount {
		return fmt.Errorf("%w: count %d not in [0,%d]", client.ErrInvalidArgument, n, MaxCount)
	}
	for i := range n {
		if err := s.Context().Err(); err != nil {
			return err
		}
		err := s.Send(&pb.HelloReply{Message: fmt.Sprintf("Hello %s #%d", r.GetName(), i), Index: int32(i), ServedBy: g.Name, Payload: r.GetPayload()})
		if err != nil {
			return err
		}
	}
	return nil
}

// LotsOfGreetings reads every request and answers once with all names.
func (g *Greeter) LotsOfGreetings(s grpc.ClientStreamingServer[pb.HelloRequest, pb.HelloReply]) error {
	var names []string
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return s.SendAndClose(&pb.HelloReply{Message: "Hello " + strings.Join(names, ", "), Index: int32(len(names)), ServedBy: g.Name})
		}
		if err != nil {
			return err
		}
		names = append(names, r.GetName())
	}
}

// BidiHello answers each request as it arrives.
func (g *Greeter) BidiHello(s grpc.BidiStreamingServer[pb.HelloRequest, pb.HelloReply]) error {
	for i := 0; ; i++ {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&pb.HelloReply{Message: "Hello " + r.GetName(), Index: int32(i), ServedBy: g.Name, Payload: r.GetPayload()}); err != nil {
			return err
		}
	}
}

// Register adds the Greeter, the health service (Greeter reported
// SERVING) and reflection to s. It returns the health server so a caller
// can flip the status while draining.
func Register(s *grpc.Server, g *Greeter) *health.Server {
	pb.RegisterGreeterServer(s, g)
	hs := health.NewServer()
	hs.SetServingStatus(pb.Greeter_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	return hs
}
