package grpcmesh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/grpcmesh"
	"github.com/wasmesh/wasmesh/client/internal/testpki"
	"github.com/wasmesh/wasmesh/client/jwtauth"
	pb "github.com/wasmesh/wasmesh/examples/greeter/greeterpb"
)

func TestMapErrorEveryCode(t *testing.T) {
	tests := []struct {
		code codes.Code
		want error
	}{
		{codes.Canceled, client.ErrCanceled},
		{codes.Unknown, client.ErrUnknown},
		{codes.InvalidArgument, client.ErrInvalidArgument},
		{codes.DeadlineExceeded, client.ErrDeadlineExceeded},
		{codes.NotFound, client.ErrNotFound},
		{codes.AlreadyExists, client.ErrAlreadyExists},
		{codes.PermissionDenied, client.ErrPermissionDenied},
		{codes.ResourceExhausted, client.ErrResourceExhausted},
		{codes.FailedPrecondition, client.ErrFailedPrecondition},
		{codes.Aborted, client.ErrAborted},
		{codes.OutOfRange, client.ErrOutOfRange},
		{codes.Unimplemented, client.ErrUnimplemented},
		{codes.Internal, client.ErrInternal},
		{codes.Unavailable, client.ErrUnavailable},
		{codes.DataLoss, client.ErrDataLoss},
		{codes.Unauthenticated, client.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			err := grpcmesh.MapError(status.Error(tt.code, "boom"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.want)
			}
			if status.Code(err) != tt.code {
				t.Fatalf("status.Code = %v, want %v", status.Code(err), tt.code)
			}
			// Back to a status on the server side, the code survives.
			if got := grpcmesh.ToStatus(fmt.Errorf("wrapped: %w", tt.want)).Code(); got != tt.code {
				t.Fatalf("ToStatus = %v, want %v", got, tt.code)
			}
			if errors.Is(err, client.ErrDataLoss) != (tt.code == codes.DataLoss) {
				t.Fatal("matches a sentinel of another code")
			}
		})
	}
	if grpcmesh.MapError(nil) != nil || grpcmesh.MapError(status.Error(codes.OK, "")) != nil {
		t.Fatal("OK mapped to an error")
	}
	if err := grpcmesh.MapError(context.DeadlineExceeded); !errors.Is(err, client.ErrDeadlineExceeded) {
		t.Fatalf("context error mapped to %v", err)
	}
	plain := errors.New("plain")
	if grpcmesh.MapError(plain) != plain {
		t.Fatal("a non-status error was changed")
	}
}

// TestErrorMappingOverTheWire runs a real server whose handlers fail and
// checks what the SDK client sees: the sentinel, the code and the details.
func TestErrorMappingOverTheWire(t *testing.T) {
	detailed := status.New(codes.ResourceExhausted, "slow down")
	detailed, err := detailed.WithDetails(&errdetails.ErrorInfo{Reason: "QUOTA", Domain: "wasmesh.test"})
	if err != nil {
		t.Fatal(err)
	}
	sopts, _ := grpcmesh.ServerOptions(grpcmesh.WithInsecure())
	sopts = append(sopts, grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		m, _ := grpc.MethodFromServerStream(ss)
		switch m {
		case "/t.T/Detailed":
			return detailed.Err()
		case "/t.T/Sentinel":
			return fmt.Errorf("order 7: %w", client.ErrNotFound)
		}
		return errors.New("plain failure")
	}))
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	s := grpc.NewServer(sopts...)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	conn, err := grpcmesh.NewClient("mesh:///t", static("t", lis.Addr().String()), grpcmesh.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := ctxT(t)

	err = conn.Invoke(ctx, "/t.T/Detailed", &pb.HelloRequest{}, &pb.HelloReply{})
	if !errors.Is(err, client.ErrResourceExhausted) {
		t.Fatalf("err = %v, want ErrResourceExhausted", err)
	}
	var se *grpcmesh.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err %T is no *StatusError", err)
	}
	d := se.Status().Details()
	if len(d) != 1 || d[0].(*errdetails.ErrorInfo).GetReason() != "QUOTA" {
		t.Fatalf("details = %v", d)
	}
	if st, _ := status.FromError(err); st.Message() != "slow down" {
		t.Fatalf("status.FromError lost the message: %v", st)
	}

	err = conn.Invoke(ctx, "/t.T/Sentinel", &pb.HelloRequest{}, &pb.HelloReply{})
	if !errors.Is(err, client.ErrNotFound) || status.Code(err) != codes.NotFound {
		t.Fatalf("sentinel from handler: err = %v", err)
	}
	err = conn.Invoke(ctx, "/t.T/Other", &pb.HelloRequest{}, &pb.HelloReply{})
	if !errors.Is(err, client.ErrUnknown) {
		t.Fatalf("plain error: err = %v, want ErrUnknown", err)
	}

	// A stream's error is mapped too.
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/t.T/Detailed")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.RecvMsg(&pb.HelloReply{}); !errors.Is(err, client.ErrResourceExhausted) {
		t.Fatalf("stream err = %v", err)
	}

	// No endpoint listening: UNAVAILABLE.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	conn2, _ := grpcmesh.NewClient("mesh:///t", static("t", deadAddr), grpcmesh.WithInsecure())
	defer conn2.Close()
	err = conn2.Invoke(ctx, "/t.T/X", &pb.HelloRequest{}, &pb.HelloReply{})
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("dead endpoint: err = %v, want ErrUnavailable", err)
	}
	// The caller's deadline: DEADLINE_EXCEEDED.
	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-short.Done()
	err = conn.Invoke(short, "/t.T/X", &pb.HelloRequest{}, &pb.HelloReply{})
	if !errors.Is(err, client.ErrDeadlineExceeded) {
		t.Fatalf("deadline: err = %v", err)
	}
}

func TestBalancingAcrossThreeServers(t *testing.T) {
	var addrs []string
	for i := range 3 {
		a, _ := startGreeter(t, fmt.Sprintf("s%d", i), grpcmesh.WithInsecure())
		addrs = append(addrs, a)
	}
	for _, policy := range []string{"round_robin", "least_request", "random", "weighted"} {
		t.Run(policy, func(t *testing.T) {
			conn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", addrs...), grpcmesh.WithInsecure(), grpcmesh.WithBalancer(policy))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			g := pb.NewGreeterClient(conn)
			ctx := ctxT(t)
			// Wait until all three are connected, so the count is about
			// balancing, not about connection set-up.
			waitFor(t, func() bool {
				seen := map[string]bool{}
				for range 12 {
					r, err := g.SayHello(ctx, &pb.HelloRequest{Name: "x"})
					if err != nil {
						t.Fatal(err)
					}
					seen[r.GetServedBy()] = true
				}
				return len(seen) == 3
			})
			count := map[string]int{}
			for range 300 {
				r, err := g.SayHello(ctx, &pb.HelloRequest{Name: "x"})
				if err != nil {
					t.Fatal(err)
				}
				count[r.GetServedBy()]++
			}
			for i := range 3 {
				if n := count[fmt.Sprintf("s%d", i)]; n < 50 {
					t.Errorf("s%d got %d of 300: %v", i, n, count)
				}
			}
		})
	}
	if _, err := grpcmesh.DialOptions(nil, grpcmesh.WithInsecure(), grpcmesh.WithBalancer("nope")); err == nil {
		t.Error("unknown balancer accepted")
	}
	if _, err := grpcmesh.DialOptions(nil); err == nil {
		t.Error("neither TLS nor insecure: accepted")
	}
}

func TestEndpointsChangeUnderGRPC(t *testing.T) {
	a, _ := startGreeter(t, "a", grpcmesh.WithInsecure())
	b, _ := startGreeter(t, "b", grpcmesh.WithInsecure())
	res := static("greeter", a)
	conn, err := grpcmesh.NewClient("mesh:///greeter", res, grpcmesh.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g := pb.NewGreeterClient(conn)
	ctx := ctxT(t)
	served := func() string {
		r, err := g.SayHello(ctx, &pb.HelloRequest{Name: "x"})
		if err != nil {
			t.Fatalf("call failed while endpoints changed: %v", err)
		}
		return r.GetServedBy()
	}
	if s := served(); s != "a" {
		t.Fatalf("served by %s", s)
	}
	res.Set("greeter", []client.Endpoint{{Address: b}})
	waitFor(t, func() bool { return served() == "b" })
	for range 20 {
		if s := served(); s != "b" {
			t.Fatalf("removed endpoint %s still served", s)
		}
	}
}

func TestJWTCredentialsAndVerification(t *testing.T) {
	is := newIssuer(t)
	v, err := jwtauth.New(context.Background(), jwtauth.Config{
		JWKSURL: is.url, Algorithms: []string{"RS256"}, Issuer: "test-issuer", Audience: "greeter",
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := startGreeter(t, "s", grpcmesh.WithInsecure(), grpcmesh.WithJWTVerifier(v, "/grpc.health.v1.Health/"))
	other := newIssuer(t) // a key the server does not trust

	tests := []struct {
		name  string
		token client.TokenSource
		ok    bool
	}{
		{"valid", client.StaticToken(is.token(t, "alice", time.Minute)), true},
		{"signed by an unknown key", client.StaticToken(other.token(t, "mallory", time.Minute)), false},
		{"expired", client.StaticToken(is.token(t, "alice", -time.Minute)), false},
		{"garbage", client.StaticToken("not.a.jwt"), false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []grpcmesh.Option{grpcmesh.WithInsecure()}
			if tt.token != nil {
				opts = append(opts, grpcmesh.WithTokenSource(tt.token))
			}
			conn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", addr), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := ctxT(t)
			_, err = pb.NewGreeterClient(conn).SayHello(ctx, &pb.HelloRequest{Name: "x"})
			if tt.ok && err != nil {
				t.Fatalf("valid token refused: %v", err)
			}
			if !tt.ok && (!errors.Is(err, client.ErrUnauthenticated) || status.Code(err) != codes.Unauthenticated) {
				t.Fatalf("err = %v, want UNAUTHENTICATED", err)
			}
			// Streams are checked too.
			st, err := pb.NewGreeterClient(conn).LotsOfReplies(ctx, &pb.HelloRequest{Name: "x", Count: 1})
			if err == nil {
				_, err = st.Recv()
			}
			if tt.ok != (err == nil) {
				t.Fatalf("stream: err = %v, want ok=%v", err, tt.ok)
			}
			// The public health method needs no token.
			if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("health: %v", err)
			}
		})
	}
	// Tokens are not sent over plaintext unless allowed: grpc-go refuses
	// a connection that would.
	_, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(grpcmesh.TokenCredentials(client.StaticToken("x"), true)))
	if err == nil || !strings.Contains(err.Error(), "transport level security") {
		t.Fatalf("token over plaintext: err = %v, want refused", err)
	}
}

func TestMTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca1")
	srvCert, srvKey := ca.Issue(t, "greeter")
	cliCert, cliKey := ca.Issue(t, "caller")
	addr, _ := startGreeter(t, "s", grpcmesh.WithTLS(client.TLSFiles{CertFile: srvCert, KeyFile: srvKey, CAFile: ca.File}))
	rogue := testpki.NewCA(t, dir, "rogue")
	rogueCert, rogueKey := rogue.Issue(t, "caller")

	call := func(files client.TLSFiles) error {
		conn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", addr), grpcmesh.WithTLS(files))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = pb.NewGreeterClient(conn).SayHello(ctxT(t), &pb.HelloRequest{Name: "x"})
		return err
	}
	tests := []struct {
		name  string
		files client.TLSFiles
		ok    bool
	}{
		{"client with a certificate", client.TLSFiles{CertFile: cliCert, KeyFile: cliKey, CAFile: ca.File}, true},
		{"client without a certificate", client.TLSFiles{CAFile: ca.File}, false},
		{"client with a certificate of another CA", client.TLSFiles{CertFile: rogueCert, KeyFile: rogueKey, CAFile: ca.File}, false},
		{"client that does not trust the server", client.TLSFiles{CertFile: cliCert, KeyFile: cliKey, CAFile: rogue.File}, false},
		{"wrong server name", client.TLSFiles{CertFile: cliCert, KeyFile: cliKey, CAFile: ca.File, ServerName: "other"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := call(tt.files)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, client.ErrUnavailable) {
				t.Fatalf("err = %v, want the handshake refused (UNAVAILABLE)", err)
			}
		})
	}
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	ca1 := testpki.NewCA(t, dir, "ca1")
	ca2 := testpki.NewCA(t, dir, "ca2")
	srvCert, srvKey := ca1.Issue(t, "greeter")
	cliCert1, cliKey1 := ca1.Issue(t, "caller")
	cliCert2, cliKey2 := ca2.Issue(t, "caller")
	// The server trusts clients of the CA in trust.pem: ca1 first.
	trust := dir + "/trust.pem"
	testpki.Copy(t, ca1.File, trust)
	addr, _ := startGreeter(t, "s", grpcmesh.WithTLS(client.TLSFiles{CertFile: srvCert, KeyFile: srvKey, CAFile: trust}))
	call := func(cert, key string) error {
		conn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", addr),
			grpcmesh.WithTLS(client.TLSFiles{CertFile: cert, KeyFile: key, CAFile: ca1.File}))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = pb.NewGreeterClient(conn).SayHello(ctxT(t), &pb.HelloRequest{Name: "x"})
		return err
	}
	if err := call(cliCert1, cliKey1); err != nil {
		t.Fatalf("ca1 client refused: %v", err)
	}
	if err := call(cliCert2, cliKey2); err == nil {
		t.Fatal("ca2 client accepted before rotation")
	}
	testpki.Copy(t, ca2.File, trust) // rotate the trusted CA on disk
	waitFor(t, func() bool { return call(cliCert2, cliKey2) == nil })
	if err := call(cliCert1, cliKey1); err == nil {
		t.Fatal("ca1 client still accepted after rotation")
	}
}

func TestInterceptorsObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := grpcmesh.NewMetrics()
	reg.MustRegister(m)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	var seen struct {
		sync.Mutex
		corr string
	}
	sopts, _ := grpcmesh.ServerOptions(grpcmesh.WithInsecure(), grpcmesh.WithMetrics(m), grpcmesh.WithTracerProvider(tp))
	sopts = append(sopts, grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		seen.Lock()
		seen.corr = client.CorrelationID(ss.Context())
		seen.Unlock()
		var req pb.HelloRequest
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		switch method, _ := grpc.MethodFromServerStream(ss); method {
		case "/pkg.Svc/Fail":
			return status.Error(codes.Unavailable, "down")
		case "/pkg.Svc/Missing":
			return status.Error(codes.NotFound, "no such thing")
		}
		return ss.SendMsg(&pb.HelloReply{Message: "hi"})
	}))
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	s := grpc.NewServer(sopts...)
	go s.Serve(lis)
	t.Cleanup(s.Stop)

	conn, err := grpcmesh.NewClient("mesh:///t", static("t", lis.Addr().String()), grpcmesh.WithInsecure(),
		grpcmesh.WithMetrics(m), grpcmesh.WithLogger(log), grpcmesh.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := client.WithCorrelationID(ctxT(t), "corr-7")
	for range 3 {
		if err := conn.Invoke(ctx, "/pkg.Svc/Do", &pb.HelloRequest{}, &pb.HelloReply{}); err != nil {
			t.Fatal(err)
		}
	}
	// A stream, observed when its status arrives.
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/pkg.Svc/Stream")
	if err != nil {
		t.Fatal(err)
	}
	cs.SendMsg(&pb.HelloRequest{})
	cs.CloseSend()
	cs.RecvMsg(&pb.HelloReply{})
	if err := cs.RecvMsg(&pb.HelloReply{}); err == nil {
		t.Fatal("stream did not end")
	}

	// A server fault is an error, a NOT_FOUND is the caller's.
	if err := conn.Invoke(ctx, "/pkg.Svc/Fail", &pb.HelloRequest{}, &pb.HelloReply{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("Fail: %v", err)
	}
	if err := conn.Invoke(ctx, "/pkg.Svc/Missing", &pb.HelloRequest{}, &pb.HelloReply{}); status.Code(err) != codes.NotFound {
		t.Fatalf("Missing: %v", err)
	}

	const cli, srv = "wasmesh_rpc_client_duration_seconds", "wasmesh_rpc_server_duration_seconds"
	for _, w := range []struct {
		name, method, code, outcome string
		want                        uint64
	}{
		{cli, "Do", "0", "success", 3},
		{cli, "Stream", "0", "success", 1},
		{cli, "Fail", "14", "error", 1},
		{cli, "Missing", "5", "success", 1},
	} {
		if got := rpcCount(t, reg, w.name, w.method, w.code, w.outcome); got != w.want {
			t.Errorf("%s{rpc_method=%s,rpc_grpc_status_code=%s,outcome=%s} count = %v, want %v", w.name, w.method, w.code, w.outcome, got, w.want)
		}
	}
	waitFor(t, func() bool {
		return rpcCount(t, reg, srv, "Do", "0", "success") == 3 && rpcCount(t, reg, srv, "Fail", "14", "error") == 1
	})
	seen.Lock()
	if seen.corr != "corr-7" {
		t.Errorf("server saw correlation id %q", seen.corr)
	}
	seen.Unlock()
	out := logs.String()
	if !strings.Contains(out, `"method":"/pkg.Svc/Do"`) || !strings.Contains(out, `"correlation_id":"corr-7"`) {
		t.Errorf("log lacks method or correlation id:\n%s", out)
	}
	// otelgrpc: a client span and a server span in the same trace.
	waitFor(t, func() bool { return len(exp.GetSpans()) >= 8 })
	var clientTrace, serverTrace string
	for _, sp := range exp.GetSpans() {
		if sp.Name != "pkg.Svc/Do" {
			continue
		}
		switch sp.SpanKind.String() {
		case "client":
			clientTrace = sp.SpanContext.TraceID().String()
		case "server":
			if sp.Parent.TraceID().String() == clientTrace || clientTrace == "" {
				serverTrace = sp.SpanContext.TraceID().String()
			}
		}
	}
	if clientTrace == "" || serverTrace == "" {
		t.Fatalf("spans missing: %d spans", len(exp.GetSpans()))
	}
}

// rpcCount reads the observation count of the histogram
// name{rpc_service="pkg.Svc",rpc_method,rpc_grpc_status_code,outcome}
// from reg (0 if absent).
func rpcCount(t *testing.T, reg *prometheus.Registry, name, method, code, outcome string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rpc_service": "pkg.Svc", "rpc_method": method, "rpc_grpc_status_code": code, "outcome": outcome}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, want) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRetryUnavailable(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	sopts, _ := grpcmesh.ServerOptions(grpcmesh.WithInsecure())
	sopts = append(sopts, grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		var req pb.HelloRequest
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		if n%3 != 0 { // two failures, then a success
			return status.Error(codes.Unavailable, "try again")
		}
		return ss.SendMsg(&pb.HelloReply{Message: "ok"})
	}))
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	s := grpc.NewServer(sopts...)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	tests := []struct {
		name     string
		opts     []grpcmesh.Option
		wantErr  error
		wantSeen int
	}{
		{"no retry", nil, client.ErrUnavailable, 1},
		{"retry on UNAVAILABLE", []grpcmesh.Option{grpcmesh.WithRetry(3, time.Millisecond, 10*time.Millisecond)}, nil, 3},
		{"retry on other codes only", []grpcmesh.Option{grpcmesh.WithRetry(3, time.Millisecond, 10*time.Millisecond, codes.ResourceExhausted, codes.DeadlineExceeded)}, client.ErrUnavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			calls = 0
			mu.Unlock()
			conn, err := grpcmesh.NewClient("mesh:///t", static("t", lis.Addr().String()), append(tt.opts, grpcmesh.WithInsecure())...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Invoke(ctxT(t), "/t.T/Do", &pb.HelloRequest{}, &pb.HelloReply{})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tt.wantSeen {
				t.Fatalf("server saw %d calls, want %d", calls, tt.wantSeen)
			}
		})
	}
	if _, err := grpcmesh.DialOptions(nil, grpcmesh.WithInsecure(), grpcmesh.WithRetry(1, time.Millisecond, time.Second)); err == nil {
		t.Fatal("WithRetry(1, ...) accepted")
	}
}

func TestHealthCheckSkipsNotServing(t *testing.T) {
	a, _ := startGreeter(t, "a", grpcmesh.WithInsecure())
	b, bHealth := startGreeterWithHealth(t, "b")
	svc := pb.Greeter_ServiceDesc.ServiceName
	bHealth.SetServingStatus(svc, healthpb.HealthCheckResponse_NOT_SERVING)
	for _, policy := range []string{"round_robin", "least_request"} {
		t.Run(policy, func(t *testing.T) {
			conn, err := grpcmesh.NewClient("mesh:///greeter", static("greeter", a, b), grpcmesh.WithInsecure(),
				grpcmesh.WithHealthCheck(svc), grpcmesh.WithBalancer(policy))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			g := pb.NewGreeterClient(conn)
			ctx := ctxT(t)
			for range 30 {
				r, err := g.SayHello(ctx, &pb.HelloRequest{Name: "x"})
				if err != nil {
					t.Fatal(err)
				}
				if r.GetServedBy() != "a" {
					t.Fatalf("NOT_SERVING endpoint %s got a call", r.GetServedBy())
				}
			}
			bHealth.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
			defer bHealth.SetServingStatus(svc, healthpb.HealthCheckResponse_NOT_SERVING)
			waitFor(t, func() bool {
				r, err := g.SayHello(ctx, &pb.HelloRequest{Name: "x"})
				return err == nil && r.GetServedBy() == "b"
			})
		})
	}
}

func TestUnknownServiceTarget(t *testing.T) {
	res := static("greeter", "127.0.0.1:1")
	for _, target := range []string{"mesh:///nosuch", "mesh:///"} {
		conn, err := grpcmesh.NewClient(target, res, grpcmesh.WithInsecure())
		if err != nil {
			t.Fatal(err) // resolution is lazy: errors surface on calls
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = conn.Invoke(ctx, "/t.T/X", &pb.HelloRequest{}, &pb.HelloReply{})
		cancel()
		conn.Close()
		if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "grpcmesh") {
			t.Errorf("%s: err = %v, want UNAVAILABLE naming the resolver's complaint", target, err)
		}
	}
}

func TestMetricsNamespace(t *testing.T) {
	ch := make(chan *prometheus.Desc, 4)
	grpcmesh.NewMetricsWithNamespace("app").Describe(ch)
	close(ch)
	var got []string
	for d := range ch {
		got = append(got, d.String())
	}
	for _, name := range []string{`"app_rpc_client_duration_seconds"`, `"app_rpc_server_duration_seconds"`} {
		if !strings.Contains(strings.Join(got, "\n"), name) {
			t.Errorf("no %s among %v", name, got)
		}
	}
}
