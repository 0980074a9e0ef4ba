package dataplane

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wasmesh/wasmesh/brokers"
	_ "github.com/wasmesh/wasmesh/brokers/memory"
)

// TestAuthorizationEndToEnd: the web service (SPIFFE identity from its
// mTLS certificate) may GET /orders but not DELETE them; the denial is a
// 403 and an audit event naming the policy, published to a broker.
func TestAuthorizationEndToEnd(t *testing.T) {
	p := newPKI(t)
	a := startBackend(t, "orders")
	srv, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
brokers: [{name: mem, type: memory}]
audit: {broker: mem, topic: audit}
authorization:
  - name: orders-readers
    action: ALLOW
    routes: [orders]
    rules:
      - from: {principals: ["spiffe://example.org/ns/default/sa/web"]}
        to: {methods: [GET], paths: ["/orders*"]}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    tls: {cert_file: %s, key_file: %s, client_ca_file: %s, require_client_cert: true}
    routes:
      - {name: orders, match: {prefix: /orders}, cluster: api}
clusters:
  - {name: api, endpoints: [{address: %s}]}
`, p.certF, p.keyF, p.caFile, a.addr))
	b, _ := srv.Broker("mem")
	events, err := b.Subscribe(t.Context(), "audit", brokers.SubscribeOptions{Group: "t"})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientCert}}}}
	https := strings.Replace(url, "http://", "https://", 1)
	do := func(method string) (int, string) {
		req, _ := http.NewRequest(method, https+"/orders/7", nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := do("GET"); code != 200 {
		t.Fatalf("GET /orders: %d %s", code, body)
	}
	if code, body := do("DELETE"); code != 403 || body != rbacDenied {
		t.Fatalf("DELETE /orders: %d %q, want 403", code, body)
	}
	select {
	case d := <-events:
		d.Ack(context.Background())
		var ev map[string]any
		if err := json.Unmarshal(d.Message.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["policy"] != "orders-readers" || ev["reason"] != "default_deny" || ev["principal"] != "spiffe://example.org/ns/default/sa/web" || ev["method"] != "DELETE" {
			t.Errorf("audit event: %v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no audit event published for the denial")
	}
}

// TestAuthorizationOnJWTClaims: policies see the claims jwt-auth verified.
func TestAuthorizationOnJWTClaims(t *testing.T) {
	wasmPath := buildFilter(t, "jwt-auth")
	a := startBackend(t, "a")
	cfg := strings.Replace(jwtConfig(wasmPath, "", fmt.Sprintf("  - {name: api, endpoints: %s}\n", endpoints(a))), "listeners:", `authorization:
  - name: only-svc-a
    action: ALLOW
    routes: [api]
    rules: [{when: [{key: "request.auth.claims[sub]", values: [svc-a]}]}]
listeners:`, 1)
	_, url := startMeshd(t, cfg)
	for sub, want := range map[string]int{"svc-a": 200, "svc-b": 403} {
		tok := mint(t, jwt.MapClaims{"iss": "mesh", "aud": "orders", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
		if code, body, _ := get(t, url+"/x", "Authorization", "Bearer "+tok); code != want {
			t.Errorf("sub %s: %d %q, want %d", sub, code, body, want)
		}
	}
}
