package dataplane

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
	_ "github.com/wasmesh/wasmesh/discovery/etcd"
	"github.com/wasmesh/wasmesh/meshtest/etcdtest"
)

func instance(b *backend) discovery.Instance {
	host, port, _ := net.SplitHostPort(b.addr)
	p, _ := strconv.Atoi(port)
	return discovery.Instance{Service: "api", ID: b.name, Address: host, Port: p, Tags: []string{"v2"}}
}

// TestDiscoveryFromEtcdEndToEnd registers instances in a real etcd, and
// checks that they get traffic through a cluster with discovery:, that a
// deregistered instance stops getting it within a second, and that no
// request fails meanwhile.
func TestDiscoveryFromEtcdEndToEnd(t *testing.T) {
	etcd := etcdtest.Start(t)
	reg, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "etcd", Options: map[string]any{"endpoints": etcd.Endpoints(), "prefix": "e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	a, b := startBackend(t, "a"), startBackend(t, "b")
	for _, be := range []*backend{a, b} {
		if err := reg.Register(context.Background(), instance(be)); err != nil {
			t.Fatal(err)
		}
	}
	srv, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
registries:
  - {name: etcd, backend: etcd, options: {endpoints: ["%s"], prefix: e2e}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, cluster: api}]
clusters:
  - name: api
    discovery: {backend: etcd, service: api, tags: [v2]}
`, etcd.Endpoints()[0]))
	waitFor(t, "both instances discovered", func() bool {
		c := srv.mgr.Get("api")
		return c != nil && len(c.Hosts) == 2
	})
	for _, h := range srv.mgr.Get("api").Hosts {
		if !strings.Contains(h.Source, "etcd") {
			t.Errorf("endpoint %s has source %q", h.Addr, h.Source)
		}
	}
	stop := make(chan struct{})
	ok, fails, wait := load(url+"/x", 4, stop)
	time.Sleep(300 * time.Millisecond)
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("traffic a=%d b=%d; both instances should get some", a.hits.Load(), b.hits.Load())
	}
	if err := reg.Deregister(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	deregistered := time.Now()
	waitFor(t, "b removed", func() bool { return len(srv.mgr.Get("api").Hosts) == 1 })
	if d := time.Since(deregistered); d > time.Second {
		t.Errorf("deregistration took %s to reach the load balancer", d)
	}
	time.Sleep(100 * time.Millisecond)
	before := b.hits.Load()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wait()
	if b.hits.Load() != before {
		t.Errorf("b still got %d requests after it was deregistered", b.hits.Load()-before)
	}
	if len(*fails) > 0 {
		t.Errorf("%d requests failed while instances changed, e.g. %s", len(*fails), (*fails)[0])
	}
	if ok.Load() == 0 {
		t.Fatal("no request succeeded")
	}
}

// TestSelfRegistration has meshd register its app on start, report its
// health from meshd's own checks, and leave the registry on shutdown.
func TestSelfRegistration(t *testing.T) {
	etcd := etcdtest.Start(t)
	app := startBackend(t, "app")
	host, port, _ := net.SplitHostPort(app.addr)
	srv, _ := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
registries:
  - {name: etcd, backend: etcd, options: {endpoints: ["%s"], prefix: self}}
service:
  name: web
  address: %s
  port: %s
  version: "1.2.3"
  tags: [v1]
  registries: [etcd]
  health_check: {path: /healthz, interval: 100ms, unhealthy_threshold: 1}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, direct_response: {status: 200}}]
clusters: []
`, etcd.Endpoints()[0], host, port))
	reg, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "etcd", Options: map[string]any{"endpoints": etcd.Endpoints(), "prefix": "self"}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	resolve := func() []discovery.Instance {
		in, _ := reg.Resolve(context.Background(), "web", discovery.Filter{})
		return in
	}
	waitFor(t, "the app registered", func() bool { return len(resolve()) == 1 })
	if in := resolve()[0]; in.Version != "1.2.3" || in.Address != host {
		t.Errorf("registered instance: %+v", in)
	}
	// The app fails its health check: meshd reports it, and it drops out.
	app.stop()
	waitFor(t, "the unhealthy app removed", func() bool { return len(resolve()) == 0 })
	// Shutdown deregisters.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	if in := resolve(); len(in) != 0 {
		t.Errorf("still registered after shutdown: %+v", in)
	}
}
