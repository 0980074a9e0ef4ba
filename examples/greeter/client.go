package greeter

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/grpcmesh"
	pb "github.com/wasmesh/wasmesh/examples/greeter/greeterpb"
)

// Client is the Greeter client as an application would write it: the
// generated stub over a connection made by the SDK.
type Client struct {
	conn *grpc.ClientConn
	pb.GreeterClient
}

// Dial connects to mesh:///service through res.
func Dial(service string, res client.Resolver, opts ...grpcmesh.Option) (*Client, error) {
	conn, err := grpcmesh.NewClient("mesh:///"+service, res, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, GreeterClient: pb.NewGreeterClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// All makes one call of each kind and returns the greetings received, in
// order.
func (c *Client) All(ctx context.Context, name string, n int) ([]string, error) {
	var out []string
	r, err := c.SayHello(ctx, &pb.HelloRequest{Name: name})
	if err != nil {
		return out, fmt.Errorf("SayHello: %w", err)
	}
	out = append(out, r.GetMessage())

	ss, err := c.LotsOfReplies(ctx, &pb.HelloRequest{Name: name, Count: int32(n)})
	if err != nil {
		return out, fmt.Errorf("LotsOfReplies: %w", err)
	}
	for {
		r, err := ss.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("LotsOfReplies: %w", err)
		}
		out = append(out, r.GetMessage())
	}

	cs, err := c.LotsOfGreetings(ctx)
	if err != nil {
		return out, fmt.Errorf("LotsOfGreetings: %w", err)
	}
	for i := range n {
		if err := cs.Send(&pb.HelloRequest{Name: fmt.Sprintf("%s-%d", name, i)}); err != nil {
			return out, fmt.Errorf("LotsOfGreetings: %w", err)
		}
	}
	r, err = cs.CloseAndRecv()
	if err != nil {
		return out, fmt.Errorf("LotsOfGreetings: %w", err)
	}
	out = append(out, r.GetMessage())

	bs, err := c.BidiHello(ctx)
	if err != nil {
		return out, fmt.Errorf("BidiHello: %w", err)
	}
	for i := range n {
		if err := bs.Send(&pb.HelloRequest{Name: fmt.Sprintf("%s-%d", name, i)}); err != nil {
			return out, fmt.Errorf("BidiHello: %w", err)
		}
		r, err := bs.Recv()
		if err != nil {
			return out, fmt.Errorf("BidiHello: %w", err)
		}
		out = append(out, r.GetMessage())
	}
	if err := bs.CloseSend(); err != nil {
		return out, fmt.Errorf("BidiHello: %w", err)
	}
	if _, err := bs.Recv(); !errors.Is(err, io.EOF) {
		return out, fmt.Errorf("BidiHello: want end of stream, got %v", err)
	}
	return out, nil
}
