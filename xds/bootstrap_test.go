package xds

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
)

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// expand fills a testdata template and writes it to a temp file.
func expand(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, []byte(os.Expand(string(b), func(k string) string { return vars[k] })), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBootstrapStaticProxies loads an Envoy bootstrap with static
// resources and proxies through it.
func TestBootstrapStaticProxies(t *testing.T) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	listen := freeAddr(t)
	path := expand(t, "static.yaml", map[string]string{"LISTEN": port(listen), "ADMIN": port(freeAddr(t)), "A": port(a.addr), "B": port(b.addr)})
	bs, err := LoadBootstrap(path)
	if err != nil {
		t.Fatal(err)
	}
	if bs.ADS != nil || bs.Node.ID != "static-test" {
		t.Fatalf("ADS = %+v, node = %+v", bs.ADS, bs.Node)
	}
	cfg, warns, err := bs.Config()
	if err != nil {
		t.Fatal(err)
	}
	if ps := conf.Validate(cfg); len(ps) > 0 {
		t.Fatalf("translated bootstrap is invalid: %v (warnings %v)", ps, warns)
	}
	off := false
	cfg.Logging.AccessLog = &off
	srv := dataplane.New(dataplane.Options{Logger: quiet})
	if err := srv.Apply(cfg, "bootstrap"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	base := "http://" + listen
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cases := []struct {
		name, path string
		hdr        map[string]string
		host       string
		code       int
		body       string
		location   string
	}{
		{name: "default route", path: "/x", code: 200, body: "A /x"},
		{name: "prefix rewrite", path: "/a/b/c", code: 200, body: "A /b/c"},
		// As in Envoy, prefix_rewrite on a regex match replaces the whole path.
		{name: "regex and weighted clusters", path: "/v2/users", code: 200, body: "A /api/"},
		{name: "header match", path: "/x", hdr: map[string]string{"x-canary": "yes"}, code: 200, body: "B /x"},
		{name: "virtual host by domain", path: "/y", host: "api.example.com", code: 200, body: "B /y"},
		{name: "direct response", path: "/health", code: 200, body: "healthy"},
		{name: "redirect", path: "/old/page", code: 307, location: "/new/page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+c.path, nil)
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			if c.host != "" {
				req.Host = c.host
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var sb strings.Builder
			buf := make([]byte, 512)
			n, _ := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if resp.StatusCode != c.code || (c.body != "" && sb.String() != c.body) {
				t.Errorf("GET %s = %d %q, want %d %q", c.path, resp.StatusCode, sb.String(), c.code, c.body)
			}
			if c.location != "" && !strings.HasSuffix(resp.Header.Get("Location"), c.location) {
				t.Errorf("Location = %q, want ...%s", resp.Header.Get("Location"), c.location)
			}
			if c.host == "" && resp.Header.Get("X-Served-By") != "meshd" {
				t.Errorf("response_headers_to_add of the virtual host not applied: %v", resp.Header)
			}
		})
	}
	cl := cfg.Clusters
	if len(cl) != 2 || cl[0].CircuitBreaker.MaxPending != 50 || cl[0].OutlierDetection.Consecutive5xx != 3 || cl[1].LB != "least_request" || cl[1].HealthCheck.Path != "/healthz" {
		t.Errorf("clusters translated wrong: %+v", cl)
	}
}

// TestBootstrapADS loads a bootstrap whose dynamic_resources point at an
// ADS cluster and proxies as the control plane says.
func TestBootstrapADS(t *testing.T) {
	a := startBackend(t, "A")
	cp := startControlPlane(t, "127.0.0.1:0", nil)
	path := expand(t, "ads.yaml", map[string]string{"XDS": port(cp.addr)})
	bs, err := LoadBootstrap(path)
	if err != nil {
		t.Fatal(err)
	}
	if bs.ADS == nil || bs.ADS.Server != cp.addr || !bs.ADS.Delta || bs.Node.ID != "bootstrap-node" || bs.Node.Metadata["zone"] != "test" {
		t.Fatalf("bootstrap read wrong: ADS %+v node %+v", bs.ADS, bs.Node)
	}
	if len(bs.Static) != 0 {
		t.Errorf("the ADS cluster must not become a data-plane cluster: %d static resources", len(bs.Static))
	}
	if !strings.Contains(strings.Join(bs.Warnings, "\n"), "layered_runtime") {
		t.Errorf("warnings %v do not mention the ignored layered_runtime", bs.Warnings)
	}
	listen := freeAddr(t)
	cp.set(t, bs.Node.ID, spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}})
	m := startMeshd(t, bs.ADS.Server, bs.Node.ID, listen, bs.ADS.Delta)
	eventually(t, 5*time.Second, "serving from the bootstrap's ADS server", bodyIs(m.url+"/z", "A /z"))
}

// TestExampleBootstrap keeps the user-facing example loadable and valid.
func TestExampleBootstrap(t *testing.T) {
	bs, err := LoadBootstrap("../conf/examples/envoy-bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := bs.Config()
	if err != nil {
		t.Fatal(err)
	}
	if ps := conf.Validate(cfg); len(ps) > 0 {
		t.Fatalf("example is invalid: %v", ps)
	}
}

// TestStaticServesWithoutServer: a bootstrap's static resources serve
// once the initial fetch times out, even when the ADS server never
// answers; when it comes, its resources join them.
func TestStaticServesWithoutServer(t *testing.T) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	listen, dynListen := freeAddr(t), freeAddr(t)
	xdsAddr := freeAddr(t) // nothing listens here yet
	bs, err := ParseBootstrap([]byte(envoyStatic(listen, a.addr)))
	if err != nil {
		t.Fatal(err)
	}
	m := startMeshd(t, xdsAddr, "n1", listen, false, func(o *Options) {
		o.Static = bs.Static
		o.WarmTimeout = 300 * time.Millisecond
	})
	eventually(t, 5*time.Second, "static listener serves with no management server", bodyIs(m.url+"/s", "A /s"))

	cp := startControlPlane(t, xdsAddr, nil)
	cp.set(t, "n1", spec{version: "1", listen: dynListen, routes: []*routev3.Route{prefixRoute("/", "b")}, clusters: map[string][]string{"b": {b.addr}}})
	eventually(t, 5*time.Second, "dynamic listener added beside the static one", bodyIs("http://"+dynListen+"/d", "B /d"))
	if code, body, _ := get(m.url + "/s"); code != 200 || body != "A /s" {
		t.Errorf("static listener after ADS: %d %q", code, body)
	}
}

func envoyStatic(listen, upstream string) string {
	lh, lp, _ := net.SplitHostPort(listen)
	uh, up, _ := net.SplitHostPort(upstream)
	return `
static_resources:
  listeners:
    - name: static
      address: { socket_address: { address: ` + lh + `, port_value: ` + lp + ` } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: s
                route_config: { name: s, virtual_hosts: [{ name: s, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: static_a } }] }] }
                http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
  clusters:
    - name: static_a
      type: STATIC
      load_assignment: { cluster_name: static_a, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ` + uh + `, port_value: ` + up + ` } } } }] }] }
`
}
