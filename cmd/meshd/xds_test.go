package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/wasmesh/wasmesh/xds"
	"google.golang.org/grpc"
)

// envoyResources is an Envoy listener with an inline route and a static
// cluster, written as Envoy users write them.
func envoyResources(listen, upstream string) string {
	lh, lp, _ := net.SplitHostPort(listen)
	uh, up, _ := net.SplitHostPort(upstream)
	return fmt.Sprintf(`
static_resources:
  listeners:
    - name: ingress
      address: { socket_address: { address: %s, port_value: %s } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress
                route_config:
                  name: local
                  virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: app } }] }]
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
    - name: app
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: app
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: %s, port_value: %s } } } }] }]
`, lh, lp, uh, up)
}

func startMeshdArgs(t *testing.T, args ...string) (*exec.Cmd, chan error, *strings.Builder) {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command(meshdBin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, exited, &stderr
}

func stop(t *testing.T, cmd *exec.Cmd, exited chan error, stderr *strings.Builder) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("meshd exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("meshd did not exit after SIGTERM")
	}
}

func TestMeshdBootstrapStatic(t *testing.T) {
	up := upstream(t, "from-static")
	listen, admin := freePort(t), freePort(t)
	ah, ap, _ := net.SplitHostPort(admin)
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	boot := fmt.Sprintf("admin: { address: { socket_address: { address: %s, port_value: %s } } }\n", ah, ap) + envoyResources(listen, up)
	os.WriteFile(path, []byte(boot), 0o644)
	cmd, exited, stderr := startMeshdArgs(t, "--bootstrap", path)
	waitBody(t, "http://"+listen+"/x", "from-static")
	resp, err := http.Get("http://" + admin + "/ready")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin API not at the bootstrap's admin.address: %v", err)
	}
	resp.Body.Close()
	stop(t, cmd, exited, stderr)
}

func TestMeshdXDSServer(t *testing.T) {
	up := upstream(t, "from-xds")
	listen, admin := freePort(t), freePort(t)
	bs, err := xds.ParseBootstrap([]byte(envoyResources(listen, up)))
	if err != nil {
		t.Fatal(err)
	}
	res := map[resourcev3.Type][]types.Resource{}
	for _, m := range bs.Static {
		typ := resourcev3.ClusterType
		if strings.Contains(string(m.ProtoReflect().Descriptor().FullName()), "Listener") {
			typ = resourcev3.ListenerType
		}
		res[typ] = append(res[typ], m.(types.Resource))
	}
	cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	snap, err := cachev3.NewSnapshot("1", res)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.SetSnapshot(context.Background(), "proc-node", snap); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(context.Background(), cache, nil))
	go gs.Serve(ln)
	defer gs.Stop()

	cmd, exited, stderr := startMeshdArgs(t, "--xds-server", ln.Addr().String(), "--node-id", "proc-node", "--node-cluster", "web", "--admin", admin)
	waitBody(t, "http://"+listen+"/x", "from-xds")

	resp, err := http.Get("http://" + admin + "/config_dump")
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Sources struct {
			XDS xds.Status `json:"xds"`
		} `json:"sources"`
	}
	err = json.NewDecoder(resp.Body).Decode(&dump)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	st := dump.Sources.XDS
	if !st.Connected || st.Node != "proc-node" || st.Types["cds"].Version != "1" || st.Types["lds"].Nonce == "" {
		t.Errorf("config_dump sources.xds = %+v", st)
	}
	resp, err = http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{"meshd_xds_connected 1", `meshd_xds_responses_total{result="ack",type="lds"}`, `meshd_xds_applies_total{result="success"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	stop(t, cmd, exited, stderr)
}

func TestMeshdConfigSourcesExclusive(t *testing.T) {
	out, err := exec.Command(meshdBin, "-c", "x.yaml", "--bootstrap", "y.yaml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "alternatives") {
		t.Errorf("-c with --bootstrap: %v %s", err, out)
	}
	out, err = exec.Command(meshdBin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--bootstrap") {
		t.Errorf("no source: %v %s", err, out)
	}
}
