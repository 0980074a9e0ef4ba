package dataplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/internal/certgen"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

func benchMeshd(b *testing.B, yaml string) *Server {
	b.Helper()
	src, err := conf.LoadBytes([]string{"b.yaml"}, [][]byte{[]byte(yaml)})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Apply(src.Config, "bench"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// BenchmarkGRPCUnary: unary calls straight to a grpc-go server against
// the same calls through meshd, in one run.
func BenchmarkGRPCUnary(b *testing.B) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	go gs.Serve(ln)
	b.Cleanup(gs.Stop)
	s := benchMeshd(b, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - {name: ingress, address: 127.0.0.1:0, routes: [{match: {prefix: /}, cluster: g}]}
clusters:
  - {name: g, protocol: grpc, endpoints: [{address: %s}]}
`, ln.Addr()))
	for _, tc := range []struct{ name, addr string }{{"direct", ln.Addr().String()}, {"meshd", s.Addr("ingress")}} {
		b.Run(tc.name, func(b *testing.B) {
			cc, err := grpc.NewClient(tc.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer cc.Close()
			c := testgrpc.NewTestServiceClient(cc)
			req := &testgrpc.SimpleRequest{ResponseSize: 100}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.UnaryCall(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkMeshHop: a request through two meshd instances, plaintext
// against strict mTLS with a JWT that meshd A attaches (from a token file)
// and B's jwt-auth verifies, in one run.
func BenchmarkMeshHop(b *testing.B) {
	up := benchUpstream(b)
	ca, _ := certgen.NewCA("mesh", time.Hour)
	dirs := map[string]string{}
	for _, n := range []string{"a", "b"} {
		dir := b.TempDir()
		leaf, _ := ca.Issue(certgen.Options{CommonName: n, SPIFFEID: "spiffe://example.org/ns/default/sa/" + n, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		leaf.Write(dir, "tls")
		ca.WriteCA(dir, "ca")
		dirs[n] = dir
	}
	mesh := func(n string) string {
		d := dirs[n]
		return fmt.Sprintf("mesh: {trust_domain: example.org, mtls: strict, cert_file: %s, key_file: %s, ca_file: %s}\n",
			filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"), filepath.Join(d, "ca.crt"))
	}
	plainB := benchMeshd(b, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - {name: ingress, address: 127.0.0.1:0, routes: [{match: {prefix: /}, cluster: app}]}
clusters:
  - {name: app, endpoints: [{address: %s}]}
`, up))
	plainA := benchMeshd(b, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - {name: ingress, address: 127.0.0.1:0, routes: [{match: {prefix: /}, cluster: b}]}
clusters:
  - {name: b, endpoints: [{address: %s}]}
`, plainB.Addr("ingress")))
	wasmPath := buildFilter(b, "jwt-auth")
	secureB := benchMeshd(b, mesh("b")+fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
wasm: {call_deadline: 2s}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    filters:
      - name: auth
        wasm: %s
        config: {issuers: [{issuer: mesh, audiences: [b], jwks: {keys: [{kty: oct, kid: k1, alg: HS256, k: "%s"}]}}]}
    routes: [{match: {prefix: /}, cluster: app}]
clusters:
  - {name: app, mtls: off, endpoints: [{address: %s}]}
`, wasmPath, hsKey, up))
	tokFile := filepath.Join(b.TempDir(), "token")
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "mesh", "aud": "b", "sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	signed, _ := tok.SignedString([]byte("secret-secret-secret-secret-32bytes"))
	writeFile(b, tokFile, signed)
	secureA := benchMeshd(b, mesh("a")+fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - {name: ingress, address: 127.0.0.1:0, mtls: off, routes: [{match: {prefix: /}, cluster: b}]}
clusters:
  - {name: b, endpoints: [{address: %s}], token: {file: %s}}
`, secureB.Addr("ingress"), tokFile))
	for _, tc := range []struct{ name, addr string }{{"plaintext", plainA.Addr("ingress")}, {"mtls+jwt", secureA.Addr("ingress")}} {
		b.Run(tc.name, func(b *testing.B) {
			runClient(b, benchClient(tc.addr), "/x")
		})
	}
}

// BenchmarkGatewayPublish: publishing to the in-memory broker directly,
// against the same publish as an HTTP call through meshd's gateway.
func BenchmarkGatewayPublish(b *testing.B) {
	s := benchMeshd(b, `
logging: {access_log: false}
drain_grace: 1ms
brokers: [{name: mem, type: memory}]
listeners:
  - {name: ingress, address: 127.0.0.1:0, routes: [{match: {prefix: /v1/publish/}, publish: {}}]}
clusters: []
`)
	bk, _ := s.Broker("mem")
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := bk.Publish(context.Background(), "orders", brokers.NewMessage([]byte(`{"id":1}`))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("meshd", func(b *testing.B) {
		c := benchClient(s.Addr("ingress"))
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://bench/v1/publish/mem/orders")
		req.Header.SetMethod(http.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyString(`{"id":1}`)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 204 {
				b.Fatalf("%v %d %s", err, resp.StatusCode(), strings.TrimSpace(string(resp.Body())))
			}
		}
	})
}
