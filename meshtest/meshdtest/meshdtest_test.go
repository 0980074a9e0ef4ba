package meshdtest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/meshtest/memregistry"
	"github.com/wasmesh/wasmesh/meshtest/meshdtest"
)

var client = &http.Client{Timeout: 5 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventually(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func upstream(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestProxiesAndServesAdmin(t *testing.T) {
	up := upstream(t, "api")
	m := meshdtest.Start(t, `
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - match: {prefix: /api/}
        cluster: api
      - match: {prefix: /}
        direct_response: {status: 200, body: "meshd up"}
clusters:
  - name: api
    endpoints: [{address: `+up+`}]
`)
	if code, body := get(t, m.URL("ingress")+"/api/users"); code != 200 || body != "api /api/users" {
		t.Fatalf("proxied request = %d %q", code, body)
	}
	if code, body := get(t, m.URL("ingress")+"/"); code != 200 || body != "meshd up" {
		t.Fatalf("direct response = %d %q", code, body)
	}
	if code, _ := get(t, m.AdminURL()+"/ready"); code != 200 {
		t.Fatalf("admin /ready = %d", code)
	}
	if code, body := get(t, m.AdminURL()+"/clusters"); code != 200 || !strings.Contains(body, up) {
		t.Fatalf("admin /clusters = %d %s, want the endpoint %s", code, body, up)
	}
	if m.URL("nope") != "" || m.Addr("nope") != "" {
		t.Fatal("an unknown listener has an address")
	}
}

func TestReload(t *testing.T) {
	cfg := func(body string) string {
		return `
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - match: {prefix: /}
        direct_response: {status: 200, body: "` + body + `"}
`
	}
	m := meshdtest.Start(t, cfg("one"))
	url := m.URL("ingress")
	if _, body := get(t, url); body != "one" {
		t.Fatalf("before reload: %q", body)
	}
	if err := m.Reload(cfg("two")); err != nil {
		t.Fatal(err)
	}
	if m.URL("ingress") != url {
		t.Fatalf("reload moved the listener from %s to %s", url, m.URL("ingress"))
	}
	if _, body := get(t, url); body != "two" {
		t.Fatalf("after reload: %q", body)
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown field", cfg("x") + "bogus: 1\n", "bogus"},
		{"route to a missing cluster", strings.Replace(cfg("x"), `direct_response: {status: 200, body: "x"}`, "cluster: nowhere", 1), "nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Reload(tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Reload = %v, want an error naming %q", err, tt.want)
			}
			if _, body := get(t, url); body != "two" {
				t.Fatalf("after a rejected reload: %q, want the previous config", body)
			}
		})
	}
}

func TestRejectsBadConfig(t *testing.T) {
	_, err := meshdtest.New("listeners: [{name: a, address: 'not an address'}]\n")
	if err == nil {
		t.Fatal("New accepted a listener without a valid address")
	}
}

func TestCloseStopsListeners(t *testing.T) {
	m, err := meshdtest.New("listeners: [{name: in, address: '127.0.0.1:0', routes: [{match: {prefix: /}, direct_response: {status: 204}}]}]\n")
	if err != nil {
		t.Fatal(err)
	}
	addr, admin := m.Addr("in"), m.AdminAddr()
	if code, _ := get(t, "http://"+addr+"/"); code != 204 {
		t.Fatalf("status %d", code)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{addr, admin} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still accepts after Close", a)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestEndpointsFromMemRegistry drives a cluster's endpoints through the
// registry double, including a registry outage: meshd keeps the last set.
func TestEndpointsFromMemRegistry(t *testing.T) {
	reg := memregistry.Start(t)
	m := meshdtest.Start(t, `
registries:
  - {name: reg, backend: memory, options: {name: `+reg.Name()+`}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, cluster: api}]
clusters:
  - name: api
    discovery: {backend: reg, service: api}
`)
	eventually(t, "meshd watches the registry", func() bool { return reg.Watchers("api") > 0 })
	host, port, _ := net.SplitHostPort(upstream(t, "a"))
	p, _ := strconv.Atoi(port)
	app := reg.Registry()
	defer app.Close()
	ctx := context.Background()
	if err := app.Register(ctx, discovery.Instance{Service: "api", ID: "a", Address: host, Port: p}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "requests reach the registered instance", func() bool {
		resp, err := client.Get(m.URL("ingress") + "/x")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && string(b) == "a /x"
	})
	reg.SetDown(fmt.Errorf("registry partition"))
	for range 5 {
		if code, body := get(t, m.URL("ingress")+"/y"); code != 200 || body != "a /y" {
			t.Fatalf("while the registry is down: %d %q, want the last known endpoint", code, body)
		}
	}
}
