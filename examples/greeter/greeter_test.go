package greeter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/grpcmesh"
	"github.com/wasmesh/wasmesh/client/jwtauth"
	"github.com/wasmesh/wasmesh/examples/greeter"
	pb "github.com/wasmesh/wasmesh/examples/greeter/greeterpb"
	"github.com/wasmesh/wasmesh/examples/greeter/server"
)

var hmacKey = []byte("greeter-test-secret-of-32-bytes!")

func signed(t *testing.T, sub string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Minute).Unix(),
	}).SignedString(hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs n Greeter servers on loopback with the SDK's server options
// (JWT verification included) and returns a resolver listing them and the
// servers' metrics.
func start(t *testing.T, n int) (*client.StaticResolver, *prometheus.Registry) {
	t.Helper()
	v, err := jwtauth.New(context.Background(), jwtauth.Config{Key: hmacKey, Algorithms: []string{"HS256"}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := grpcmesh.NewMetrics()
	reg.MustRegister(m)
	var eps []client.Endpoint
	for i := range n {
		sopts, err := grpcmesh.ServerOptions(grpcmesh.WithInsecure(), grpcmesh.WithMetrics(m),
			grpcmesh.WithJWTVerifier(v, "/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/"))
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer(append(sopts, grpc.MaxRecvMsgSize(8<<20))...)
		server.Register(s, &server.Greeter{Name: fmt.Sprintf("g%d", i)})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.Serve(lis) }()
		t.Cleanup(s.Stop)
		eps = append(eps, client.Endpoint{Address: lis.Addr().String()})
	}
	return client.NewStaticResolver(map[string][]client.Endpoint{"greeter": eps}), reg
}

func dial(t *testing.T, res client.Resolver, token string) *greeter.Client {
	t.Helper()
	opts := []grpcmesh.Option{grpcmesh.WithInsecure()}
	if token != "" {
		opts = append(opts, grpcmesh.WithTokenSource(client.StaticToken(token)))
	}
	g, err := greeter.Dial("greeter", res, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func TestAllFourKinds(t *testing.T) {
	res, _ := start(t, 2)
	g := dial(t, res, signed(t, "ada"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := g.All(ctx, "Ada", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Hello Ada",
		"Hello Ada #0", "Hello Ada #1", "Hello Ada #2",
		"Hello Ada-0, Ada-1, Ada-2",
		"Hello Ada-0", "Hello Ada-1", "Hello Ada-2",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestLargeAndManyMessages(t *testing.T) {
	res, _ := start(t, 1)
	g := dial(t, res, signed(t, "ada"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := bytes.Repeat([]byte("wasmesh!"), 3<<17) // 3 MiB
	r, err := g.SayHello(ctx, &pb.HelloRequest{Name: "big", Payload: big})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.GetPayload(), big) {
		t.Fatal("large payload not echoed intact")
	}
	// Many messages each way on one bidi stream, sent while replies flow.
	const n = 2000
	bs, err := g.BidiHello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if err := bs.Send(&pb.HelloRequest{Name: fmt.Sprint(i), Payload: big[:1024]}); err != nil {
				errc <- err
				return
			}
		}
		errc <- bs.CloseSend()
	}()
	for i := 0; ; i++ {
		r, err := bs.Recv()
		if errors.Is(err, io.EOF) {
			if i != n {
				t.Fatalf("stream ended after %d replies, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.GetIndex() != int32(i) || r.GetMessage() != fmt.Sprintf("Hello %d", i) {
			t.Fatalf("reply %d out of order: %v", i, r)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Many replies on a server stream.
	ss, err := g.LotsOfReplies(ctx, &pb.HelloRequest{Name: "x", Count: 5000})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for {
		_, err := ss.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
	}
	if count != 5000 {
		t.Fatalf("%d replies, want 5000", count)
	}
}

func TestCancelMidStreamStopsServer(t *testing.T) {
	res, reg := start(t, 1)
	g := dial(t, res, signed(t, "ada"))
	ctx, cancel := context.WithCancel(context.Background())
	ss, err := g.LotsOfReplies(ctx, &pb.HelloRequest{Name: "x", Count: server.MaxCount})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := ss.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := ss.Recv(); !errors.Is(err, client.ErrCanceled) {
		// Replies already buffered may arrive first; drain until the error.
		for err == nil {
			_, err = ss.Recv()
		}
		if !errors.Is(err, client.ErrCanceled) {
			t.Fatalf("after cancel: %v, want ErrCanceled", err)
		}
	}
	// The server's handler saw the cancellation and returned early.
	deadline := time.Now().Add(10 * time.Second)
	for handled(t, reg, "LotsOfReplies", "1") != 1 { // 1: CANCELLED
		if time.Now().After(deadline) {
			t.Fatal("the server stream was not stopped by the client's cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuthAndErrors(t *testing.T) {
	res, _ := start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := dial(t, res, "").SayHello(ctx, &pb.HelloRequest{Name: "x"})
	if !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("no token: %v", err)
	}
	bad, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Minute).Unix()}).
		SignedString([]byte("another-secret-another-secret-xx"))
	_, err = dial(t, res, bad).SayHello(ctx, &pb.HelloRequest{Name: "x"})
	if !errors.Is(err, client.ErrUnauthenticated) || status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad token: %v", err)
	}
	_, err = dial(t, res, signed(t, "ada")).SayHello(ctx, &pb.HelloRequest{})
	if !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("empty name: %v, want ErrInvalidArgument", err)
	}
}

// TestReflectionAndHealth: what grpcurl and load balancers use works
// without a token (they are public methods) through the SDK connection.
func TestReflectionAndHealth(t *testing.T) {
	res, _ := start(t, 1)
	conn, err := grpcmesh.NewClient("mesh:///greeter", res, grpcmesh.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: pb.Greeter_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	rc, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	r, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range r.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, ","), pb.Greeter_ServiceDesc.ServiceName) {
		t.Fatalf("reflection lists %v", names)
	}
}

// handled reads how many RPCs of method the server finished with the
// numeric status code (the count of wasmesh_rpc_server_duration_seconds).
func handled(t *testing.T, reg *prometheus.Registry, method, code string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "wasmesh_rpc_server_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var gm, gc string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "rpc_method":
					gm = l.GetValue()
				case "rpc_grpc_status_code":
					gc = l.GetValue()
				}
			}
			if gm == method && gc == code {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}
