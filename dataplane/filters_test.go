package dataplane

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var (
	filterBuild sync.Map // name → *builtFilter
	filterDir   string
	filterOnce  sync.Once
)

type builtFilter struct {
	once sync.Once
	path string
	err  error
}

// buildFilter compiles filters/NAME to Wasm with the standard toolchain,
// once per test binary (the Go build cache makes repeats cheap).
func buildFilter(t testing.TB, name string) string {
	t.Helper()
	filterOnce.Do(func() { filterDir, _ = os.MkdirTemp("", "meshd-filters") })
	v, _ := filterBuild.LoadOrStore(name, &builtFilter{})
	bf := v.(*builtFilter)
	bf.once.Do(func() {
		src, _ := filepath.Abs(filepath.Join("..", "filters", name))
		bf.path = filepath.Join(filterDir, name+".wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", bf.path, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			bf.err = fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
	})
	if bf.err != nil {
		t.Fatal(bf.err)
	}
	return bf.path
}

const hsKey = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYnl0ZXM" // base64url

func mint(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString([]byte("secret-secret-secret-secret-32bytes"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jwtConfig(wasmPath, extraRoutes, clusters string) string {
	return fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
wasm: {call_deadline: 2s}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    filters:
      - name: auth
        wasm: %s
        config:
          issuers: [{issuer: mesh, audiences: [orders], jwks: {keys: [{kty: oct, kid: k1, alg: HS256, k: "%s"}]}}]
          forward_claims: {sub: x-jwt-sub}
    routes:
      - {name: public, match: {prefix: /public/}, cluster: api, filters: [{name: auth, disabled: true}]}
%s      - {name: api, match: {prefix: /}, cluster: api}
clusters:
%s`, wasmPath, hsKey, extraRoutes, clusters)
}

func TestJWTFilterEndToEnd(t *testing.T) {
	wasmPath := buildFilter(t, "jwt-auth")
	a := startBackend(t, "a")
	a.set(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "sub=%s auth=%s", r.Header.Get("X-Jwt-Sub"), r.Header.Get("Authorization"))
	})
	_, url := startMeshd(t, jwtConfig(wasmPath, "", fmt.Sprintf("  - {name: api, endpoints: %s}\n", endpoints(a))))

	code, _, h := get(t, url+"/orders")
	if code != 401 || !strings.HasPrefix(h.Get("Www-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %v", code, h)
	}
	good := mint(t, jwt.MapClaims{"iss": "mesh", "aud": "orders", "sub": "svc-a", "exp": time.Now().Add(time.Hour).Unix()})
	code, body, _ := get(t, url+"/orders", "Authorization", "Bearer "+good)
	if code != 200 || !strings.HasPrefix(body, "sub=svc-a") {
		t.Fatalf("valid token: %d %q", code, body)
	}
	// A forged claim header from the client never reaches the upstream.
	_, body, _ = get(t, url+"/orders", "Authorization", "Bearer "+good, "X-Jwt-Sub", "admin")
	if !strings.HasPrefix(body, "sub=svc-a") {
		t.Errorf("client-set claim header survived: %q", body)
	}
	refusals := map[string]string{
		"expired":        mint(t, jwt.MapClaims{"iss": "mesh", "aud": "orders", "exp": time.Now().Add(-time.Hour).Unix()}),
		"wrong audience": mint(t, jwt.MapClaims{"iss": "mesh", "aud": "billing", "exp": time.Now().Add(time.Hour).Unix()}),
		"wrong issuer":   mint(t, jwt.MapClaims{"iss": "evil", "aud": "orders", "exp": time.Now().Add(time.Hour).Unix()}),
		"alg none":       "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJtZXNoIiwiYXVkIjoib3JkZXJzIn0.",
		"malformed":      "not.a.jwt",
		"bad signature":  good[:len(good)-4] + "AAAA",
	}
	for name, tok := range refusals {
		if code, _, _ := get(t, url+"/orders", "Authorization", "Bearer "+tok); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	// The route that switches the filter off needs no token.
	if code, _, _ := get(t, url+"/public/x"); code != 200 {
		t.Errorf("route with the filter disabled: %d", code)
	}
}

func TestJWTFilterOnGRPC(t *testing.T) {
	wasmPath := buildFilter(t, "jwt-auth")
	b := startGRPC(t, "g1")
	_, url := startMeshd(t, jwtConfig(wasmPath, "", fmt.Sprintf("  - {name: api, protocol: grpc, endpoints: [{address: %s}]}\n", b.addr)))
	c := grpcClient(t, url)
	_, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
	if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated {
		t.Fatalf("no token: %v, want UNAUTHENTICATED", err)
	}
	good := mint(t, jwt.MapClaims{"iss": "mesh", "aud": "orders", "sub": "svc-a", "exp": time.Now().Add(time.Hour).Unix()})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+good)
	if _, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("valid token: %v", err)
	}
}

func TestFilterReloadedUnderLoadZeroFailures(t *testing.T) {
	wasmPath := buildFilter(t, "jwt-auth")
	a := startBackend(t, "a")
	srv, url := startMeshd(t, jwtConfig(wasmPath, "", fmt.Sprintf("  - {name: api, endpoints: %s}\n", endpoints(a))))
	good := mint(t, jwt.MapClaims{"iss": "mesh", "aud": "orders", "sub": "svc-a", "exp": time.Now().Add(time.Hour).Unix()})
	stop := make(chan struct{})
	var mu sync.Mutex
	var fails []string
	okN := 0
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
				req, _ := http.NewRequest("GET", url+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+good)
				resp, err := client.Do(req)
				mu.Lock()
				if err != nil {
					fails = append(fails, err.Error())
				} else {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						fails = append(fails, resp.Status)
					} else {
						okN++
					}
				}
				mu.Unlock()
			}
		}()
	}
	// 20 reloads that each change the filter's config, so each builds a
	// new plugin version beside the old one.
	for i := range 20 {
		cfg := strings.Replace(jwtConfig(wasmPath, "", fmt.Sprintf("  - {name: api, endpoints: %s}\n", endpoints(a))),
			"forward_claims: {sub: x-jwt-sub}", fmt.Sprintf("forward_claims: {sub: x-jwt-sub, jti: x-jti-%d}", i), 1)
		if err := srv.Apply(mustConfig(t, cfg), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d requests failed while the filter reloaded 20 times (%d ok), e.g. %s", len(fails), okN, fails[0])
	}
	if okN == 0 {
		t.Fatal("no request succeeded")
	}
}

func writeFile(tb testing.TB, path, data string) {
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		tb.Fatal(err)
	}
}
