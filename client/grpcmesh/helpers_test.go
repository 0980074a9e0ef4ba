package grpcmesh_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/grpcmesh"
	"github.com/wasmesh/wasmesh/examples/greeter/server"
)

// startGreeter serves the example Greeter on a loopback port with the
// given server options; the server stops with the test.
func startGreeter(t testing.TB, name string, opts ...grpcmesh.Option) (string, *grpc.Server) {
	t.Helper()
	sopts, err := grpcmesh.ServerOptions(opts...)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(sopts...)
	server.Register(s, &server.Greeter{Name: name})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String(), s
}

// startGreeterWithHealth is startGreeter (plaintext) that also returns
// the health server, to flip the serving status.
func startGreeterWithHealth(t testing.TB, name string) (string, *health.Server) {
	t.Helper()
	sopts, err := grpcmesh.ServerOptions(grpcmesh.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(sopts...)
	hs := server.Register(s, &server.Greeter{Name: name})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String(), hs
}

func static(service string, addrs ...string) *client.StaticResolver {
	eps := make([]client.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = client.Endpoint{Address: a}
	}
	return client.NewStaticResolver(map[string][]client.Endpoint{service: eps})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// issuer is a JWT issuer with an RSA key served as a JWKS on loopback.
type issuer struct {
	key *rsa.PrivateKey
	kid string
	url string
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: "k1"}
	jwks := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": is.kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(srv.Close)
	is.url = srv.URL
	return is
}

func (is *issuer) token(t testing.TB, sub string, ttl time.Duration) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": sub, "iss": "test-issuer", "aud": "greeter", "exp": time.Now().Add(ttl).Unix(),
	})
	tok.Header["kid"] = is.kid
	s, err := tok.SignedString(is.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
