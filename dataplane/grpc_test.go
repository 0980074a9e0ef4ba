package dataplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/internal/certgen"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// grpcBackend is a real grpc-go server running the interop TestService,
// with hooks for failures and for seeing cancellations.
type grpcBackend struct {
	testgrpc.TestServiceServer
	name      string
	addr      string
	srv       *grpc.Server
	calls     atomic.Int64
	failNext  atomic.Int64
	cancelled chan struct{}
	peers     chan string
}

func startGRPC(t *testing.T, name string, opts ...grpc.ServerOption) *grpcBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &grpcBackend{TestServiceServer: interop.NewTestServer(), name: name, addr: ln.Addr().String(), cancelled: make(chan struct{}, 16), peers: make(chan string, 64)}
	b.srv = grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(b.srv, b)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(b.srv, hs)
	reflection.Register(b.srv)
	go b.srv.Serve(ln)
	t.Cleanup(b.srv.Stop)
	return b
}

func (b *grpcBackend) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	b.calls.Add(1)
	if b.failNext.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "try again")
	}
	resp, err := b.TestServiceServer.UnaryCall(ctx, in)
	if err != nil {
		return nil, err
	}
	resp.ServerId = b.name
	return resp, nil
}

func (b *grpcBackend) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	b.calls.Add(1)
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if stream.Context().Err() != nil {
				b.cancelled <- struct{}{}
			}
			return err
		}
		for _, p := range in.GetResponseParameters() {
			if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
				return err
			}
		}
	}
}

func grpcMeshd(t *testing.T, cluster, extraListener string) (*Server, string) {
	t.Helper()
	return startMeshd(t, fmt.Sprintf(`
admin: {address: 127.0.0.1:0}
logging: {access_log: false}
drain_grace: 50ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
%s    routes:
      - match: {prefix: /grpc.testing.TestService/}
        cluster: grpc
        timeout: 30s
        retry: {attempts: 3, on: [unavailable], backoff: {base: 1ms, max: 5ms}}
clusters:
%s`, extraListener, cluster))
}

func grpcClient(t *testing.T, target string, opts ...grpc.DialOption) testgrpc.TestServiceClient {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	cc, err := grpc.NewClient(strings.TrimPrefix(target, "http://"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

func TestGRPCAllFourKinds(t *testing.T) {
	b := startGRPC(t, "g1")
	_, url := grpcMeshd(t, fmt.Sprintf("  - {name: grpc, protocol: grpc, endpoints: [{address: %s}], health_check: {grpc: true, interval: 200ms}}\n", b.addr), "")
	c := grpcClient(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Unary, with a large message both ways.
	resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: 1 << 20, Payload: &testgrpc.Payload{Body: make([]byte, 1<<20)}})
	if err != nil || len(resp.GetPayload().GetBody()) != 1<<20 || resp.GetServerId() != "g1" {
		t.Fatalf("unary: %v (%d bytes)", err, len(resp.GetPayload().GetBody()))
	}
	// Server streaming: many messages.
	params := make([]*testgrpc.ResponseParameters, 200)
	for i := range params {
		params[i] = &testgrpc.ResponseParameters{Size: int32(100 + i)}
	}
	ss, err := c.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: params})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		m, err := ss.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("server stream: %v", err)
		}
		if len(m.GetPayload().GetBody()) != 100+n {
			t.Fatalf("message %d has %d bytes", n, len(m.GetPayload().GetBody()))
		}
		n++
	}
	if n != 200 {
		t.Fatalf("server stream: %d messages", n)
	}
	// Client streaming.
	cs, err := c.StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := range 100 {
		if err := cs.Send(&testgrpc.StreamingInputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, i*10)}}); err != nil {
			t.Fatal(err)
		}
		total += i * 10
	}
	cr, err := cs.CloseAndRecv()
	if err != nil || int(cr.GetAggregatedPayloadSize()) != total {
		t.Fatalf("client stream: %v %d want %d", err, cr.GetAggregatedPayloadSize(), total)
	}
	// Bidirectional, message by message: each reply must arrive before the
	// next request is sent, so nothing may be buffered along the way.
	bs, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := bs.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: int32(i + 1)}}}); err != nil {
			t.Fatal(err)
		}
		m, err := bs.Recv()
		if err != nil || len(m.GetPayload().GetBody()) != i+1 {
			t.Fatalf("bidi %d: %v", i, err)
		}
	}
	bs.CloseSend()
	if _, err := bs.Recv(); err != io.EOF {
		t.Fatalf("bidi end: %v", err)
	}
	// A status from the upstream reaches the client with its message.
	_, err = c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"}})
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		t.Fatalf("status passthrough: %v", err)
	}
}

func TestGRPCCancelPropagates(t *testing.T) {
	b := startGRPC(t, "g1")
	_, url := grpcMeshd(t, fmt.Sprintf("  - {name: grpc, protocol: grpc, endpoints: [{address: %s}]}\n", b.addr), "")
	c := grpcClient(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	bs, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bs.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}})
	if _, err := bs.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-b.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream stream was not cancelled when the client cancelled")
	}
}

func TestGRPCRetriesUnaryOnUnavailable(t *testing.T) {
	b := startGRPC(t, "g1")
	s, url := grpcMeshd(t, fmt.Sprintf("  - {name: grpc, protocol: grpc, endpoints: [{address: %s}]}\n", b.addr), "")
	c := grpcClient(t, url)
	for range 20 {
		b.failNext.Store(2) // two UNAVAILABLE, then success: within 3 attempts
		if _, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{ResponseSize: 10}); err != nil {
			t.Fatalf("retry did not hide UNAVAILABLE: %v", err)
		}
	}
	b.failNext.Store(5)
	_, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable {
		t.Fatalf("after attempts ran out: %v", err)
	}

	// The metrics see gRPC's status, not only HTTP's 200: 20 calls OK, one
	// UNAVAILABLE (an error outcome under code_class 2xx); upstream, each
	// UNAVAILABLE try is an error (20×2 + 3) and 20 tries succeeded.
	for _, c := range []struct {
		family string
		labels map[string]string
		want   uint64
	}{
		{"meshd_rpc_server_duration_seconds", map[string]string{"route": "ingress-0", "rpc_grpc_status_code": "0", "outcome": "success"}, 20},
		{"meshd_rpc_server_duration_seconds", map[string]string{"route": "ingress-0", "rpc_grpc_status_code": "14", "outcome": "error"}, 1},
		{"meshd_http_server_request_duration_seconds", map[string]string{"route": "ingress-0", "code_class": "2xx", "outcome": "success"}, 20},
		{"meshd_http_server_request_duration_seconds", map[string]string{"route": "ingress-0", "code_class": "2xx", "outcome": "error"}, 1},
		{"meshd_http_client_request_duration_seconds", map[string]string{"cluster": "grpc", "code_class": "2xx", "outcome": "error"}, 43},
		{"meshd_http_client_request_duration_seconds", map[string]string{"cluster": "grpc", "code_class": "2xx", "outcome": "success"}, 20},
	} {
		if got := histCount(t, s, c.family, c.labels); got != c.want {
			t.Errorf("%s%v: %d observations, want %d", c.family, c.labels, got, c.want)
		}
	}
}

// histCount is the sample count of the one series of a histogram family
// with the given labels (others ignored), 0 when there is none.
func histCount(t *testing.T, s *Server, family string, labels map[string]string) uint64 {
	t.Helper()
	mfs, err := s.stats.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func TestGRPCTimeoutHonoured(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	slow := grpc.NewServer(grpc.UnknownServiceHandler(func(srv any, stream grpc.ServerStream) error {
		<-stream.Context().Done()
		return stream.Context().Err()
	}))
	go slow.Serve(ln)
	t.Cleanup(slow.Stop)
	_, url := grpcMeshd(t, fmt.Sprintf("  - {name: grpc, protocol: grpc, endpoints: [{address: %s}]}\n", ln.Addr()), "")
	c := grpcClient(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if st, _ := status.FromError(err); st.Code() != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DEADLINE_EXCEEDED", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("grpc-timeout was not honoured")
	}
}

func TestGRPCKilledUpstreamTrafficMoves(t *testing.T) {
	b1, b2 := startGRPC(t, "g1"), startGRPC(t, "g2")
	_, url := grpcMeshd(t, fmt.Sprintf(`  - name: grpc
    protocol: grpc
    connect_timeout: 200ms
    endpoints: [{address: %s}, {address: %s}]
    health_check: {grpc: true, interval: 100ms, unhealthy_threshold: 1}
    outlier_detection: {consecutive_gateway_error: 2, interval: 100ms, base_ejection_time: 10s, max_ejection_percent: 50}
    retry_budget: {percent: 100, min_concurrency: 16}
`, b1.addr, b2.addr), "")
	c := grpcClient(t, url)
	var fails atomic.Int64
	var ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{ResponseSize: 10}); err != nil {
					fails.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	b2.srv.Stop()
	time.Sleep(500 * time.Millisecond)
	before := b1.calls.Load()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if b1.calls.Load() <= before {
		t.Fatal("traffic did not continue on the surviving upstream")
	}
	// Calls in flight on the killed server when it stopped may fail; the
	// rest must not.
	if f := fails.Load(); f > 4 {
		t.Errorf("%d calls failed after killing one of two upstreams (%d ok)", f, ok.Load())
	}
}

func TestH2cAndHTTP1OnOneListener(t *testing.T) {
	a := startBackend(t, "a")
	_, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api}`, fmt.Sprintf(`
  - {name: api, endpoints: %s}`, endpoints(a))))
	h2c := &http.Client{Transport: &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, n, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, n, addr)
	}}}
	resp, err := h2c.Get(url + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "a /h2" {
		t.Fatalf("h2c: %s %q", resp.Proto, body)
	}
	if code, body, _ := get(t, url+"/h1"); code != 200 || body != "a /h1" {
		t.Fatalf("http/1.1: %d %q", code, body)
	}
}

// pki makes a CA, a server certificate for 127.0.0.1 and client
// certificates, in a temp dir.
type pki struct {
	dir                   string
	ca                    *certgen.CA
	caFile, certF, keyF   string
	clientCert, otherCert tls.Certificate
	pool                  *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	ca, err := certgen.NewCA("mesh-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p.ca = ca
	p.caFile, _ = ca.WriteCA(p.dir, "ca")
	srv, _ := ca.Issue(certgen.Options{CommonName: "meshd", IPs: []net.IP{net.ParseIP("127.0.0.1")}, SPIFFEID: "spiffe://example.org/ns/mesh/sa/meshd"})
	p.certF, p.keyF, _ = srv.Write(p.dir, "server")
	cl, _ := ca.Issue(certgen.Options{CommonName: "web", SPIFFEID: "spiffe://example.org/ns/default/sa/web"})
	p.clientCert, _ = tls.X509KeyPair(cl.CertPEM, cl.KeyPEM)
	other, _ := certgen.NewCA("other-ca", time.Hour)
	ol, _ := other.Issue(certgen.Options{CommonName: "intruder", SPIFFEID: "spiffe://evil.org/ns/x/sa/y"})
	p.otherCert, _ = tls.X509KeyPair(ol.CertPEM, ol.KeyPEM)
	p.pool = x509.NewCertPool()
	p.pool.AppendCertsFromPEM(ca.PEM)
	return p
}

func TestMTLSRequiredAndPeerIdentity(t *testing.T) {
	p := newPKI(t)
	// An upstream that reports what meshd said of the caller.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gs := grpc.NewServer()
	ps := &peerSvc{TestServiceServer: interop.NewTestServer(), xfcc: make(chan string, 16)}
	testgrpc.RegisterTestServiceServer(gs, ps)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	tlsBlock := fmt.Sprintf("    tls: {cert_file: %s, key_file: %s, client_ca_file: %s, require_client_cert: true}\n", p.certF, p.keyF, p.caFile)
	_, url := grpcMeshd(t, fmt.Sprintf("  - {name: grpc, protocol: grpc, endpoints: [{address: %s}]}\n", ln.Addr()), tlsBlock)
	addr := strings.TrimPrefix(url, "http://")

	good := grpcClient(t, addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientCert}})))
	if _, err := good.UnaryCall(context.Background(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("client with a mesh certificate: %v", err)
	}
	if got := <-ps.xfcc; got != "URI=spiffe://example.org/ns/default/sa/web" {
		t.Errorf("upstream saw x-forwarded-client-cert %q", got)
	}
	for name, cfg := range map[string]*tls.Config{
		"no certificate":          {RootCAs: p.pool},
		"another trust domain CA": {RootCAs: p.pool, Certificates: []tls.Certificate{p.otherCert}},
	} {
		bad := grpcClient(t, addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := bad.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		cancel()
		if st, _ := status.FromError(err); st.Code() != codes.Unavailable {
			t.Errorf("%s: got %v, want the connection refused", name, err)
		}
	}
	// HTTP/1.1 over the same TLS listener (ALPN), with a client certificate.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientCert}}}}
	resp, err := hc.Get("https://" + addr + "/grpc.testing.TestService/x")
	if err != nil {
		t.Fatalf("https/1.1: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 {
		t.Errorf("ALPN picked %s for an HTTP/1.1-only client", resp.Proto)
	}
}

// peerSvc tells the test what meshd said of the caller.
type peerSvc struct {
	testgrpc.TestServiceServer
	xfcc chan string
}

func (p *peerSvc) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	select {
	case p.xfcc <- incomingHeader(ctx, "x-forwarded-client-cert"):
	default:
	}
	return &testgrpc.SimpleResponse{}, nil
}

func incomingHeader(ctx context.Context, name string) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(name); len(v) > 0 {
		return v[0]
	}
	return ""
}
