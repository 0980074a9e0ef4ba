package xds

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/wasmesh/wasmesh/conf"
)

var modes = []struct {
	name  string
	delta bool
}{{"sotw", false}, {"delta", true}}

// TestRoutesAsSnapshotSays: meshd routes as the snapshot says, and the
// two protocols give the same config.
func TestRoutesAsSnapshotSays(t *testing.T) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	configs := map[string][]byte{}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			cp := startControlPlane(t, "127.0.0.1:0", nil)
			listen := freeAddr(t)
			cp.set(t, "n1", spec{version: "1", listen: listen,
				routes:   []*routev3.Route{prefixRoute("/b", "b"), prefixRoute("/", "a")},
				clusters: map[string][]string{"a": {a.addr}, "b": {b.addr}}})
			m := startMeshd(t, cp.addr, "n1", listen, mode.delta)
			eventually(t, 5*time.Second, "first config applied", func() bool { return m.last() != nil })
			for path, want := range map[string]string{"/b/x": "B /b/x", "/x": "A /x", "/": "A /"} {
				code, body, err := get(m.url + path)
				if err != nil || code != 200 || body != want {
					t.Errorf("GET %s = %d %q %v, want 200 %q", path, code, body, err, want)
				}
			}
			st := m.client.Status()
			for _, typ := range []string{"lds", "rds", "cds", "eds"} {
				ts := st.Types[typ]
				if ts.Nonce == "" || ts.ACKs == 0 || ts.LastNACK != nil {
					t.Errorf("%s status = %+v, want an ACKed nonce and no NACK", typ, ts)
				}
			}
			if !mode.delta && st.Types["cds"].Version != "1" {
				t.Errorf("cds version = %q, want 1", st.Types["cds"].Version)
			}
			js, _ := json.Marshal(m.last())
			configs[mode.name] = js

			// The node reached the server as the options gave it.
			cp.mu.Lock()
			var node *corev3.Node
			if mode.delta {
				node = cp.deltas[0].GetNode()
			} else {
				node = cp.requests[0].GetNode()
			}
			cp.mu.Unlock()
			if node.GetId() != "n1" || node.GetCluster() != "test" || node.GetMetadata().GetFields()["test"].GetStringValue() != t.Name() || node.GetUserAgentName() != "meshd" {
				t.Errorf("node = %v", node)
			}
		})
	}
	if len(configs) == 2 {
		// Listener addresses differ per run; compare everything else.
		var s, d conf.Config
		json.Unmarshal(configs["sotw"], &s)
		json.Unmarshal(configs["delta"], &d)
		s.Listeners[0].Address, d.Listeners[0].Address = "", ""
		sj, _ := json.Marshal(s)
		dj, _ := json.Marshal(d)
		if string(sj) != string(dj) {
			t.Errorf("delta and state-of-the-world differ:\nsotw:  %s\ndelta: %s", sj, dj)
		}
	}
}

// TestSnapshotChangesUnderLoad: a route moved, an endpoint added and a
// cluster removed each take effect within a second, and no request fails
// meanwhile.
func TestSnapshotChangesUnderLoad(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			a, b1, b2 := startBackend(t, "A"), startBackend(t, "B1"), startBackend(t, "B2")
			cp := startControlPlane(t, "127.0.0.1:0", nil)
			listen := freeAddr(t)
			cp.set(t, "n1", spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")},
				clusters: map[string][]string{"a": {a.addr}}})
			m := startMeshd(t, cp.addr, "n1", listen, mode.delta)
			eventually(t, 5*time.Second, "v1 serving", bodyIs(m.url+"/", "A"))

			stop := make(chan struct{})
			fails := make(chan string, 1000)
			done := make(chan int)
			for range 4 {
				go func() {
					n := 0
					for {
						select {
						case <-stop:
							done <- n
							return
						default:
						}
						code, body, err := get(m.url + "/load")
						if err != nil || code != 200 {
							select {
							case fails <- fmt.Sprintf("%d %q %v", code, body, err):
							default:
							}
						}
						n++
					}
				}()
			}

			// Route moved to a new cluster, in the same snapshot.
			cp.set(t, "n1", spec{version: "2", listen: listen, routes: []*routev3.Route{prefixRoute("/", "b")},
				clusters: map[string][]string{"a": {a.addr}, "b": {b1.addr}}})
			eventually(t, time.Second, "route moved to b", bodyIs(m.url+"/", "B1"))

			// Endpoint added.
			cp.set(t, "n1", spec{version: "3", listen: listen, routes: []*routev3.Route{prefixRoute("/", "b")},
				clusters: map[string][]string{"a": {a.addr}, "b": {b1.addr, b2.addr}}})
			before := b2.hits.Load()
			eventually(t, time.Second, "new endpoint B2 gets traffic", func() bool { return b2.hits.Load() > before })

			// Cluster removed.
			cp.set(t, "n1", spec{version: "4", listen: listen, routes: []*routev3.Route{prefixRoute("/", "b")},
				clusters: map[string][]string{"b": {b1.addr, b2.addr}}})
			eventually(t, time.Second, "cluster a removed", func() bool {
				cfg := m.last()
				return len(cfg.Clusters) == 1 && cfg.Clusters[0].Name == "b"
			})
			time.Sleep(100 * time.Millisecond)
			close(stop)
			total := 0
			for range 4 {
				total += <-done
			}
			close(fails)
			for f := range fails {
				t.Errorf("failed request under load: %s", f)
			}
			if total < 20 {
				t.Errorf("only %d requests ran under load", total)
			}
			if n := cp.nackList(); len(n) > 0 {
				t.Errorf("unexpected NACKs: %v", n)
			}
		})
	}
}

// TestInvalidResourceNACKed: a route the data plane cannot honour is
// NACKed with the reason, the server sees it, and traffic keeps flowing
// on the old config; a fixed snapshot is then accepted.
func TestInvalidResourceNACKed(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			a := startBackend(t, "A")
			cp := startControlPlane(t, "127.0.0.1:0", nil)
			listen := freeAddr(t)
			good := spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}}
			cp.set(t, "n1", good)
			m := startMeshd(t, cp.addr, "n1", listen, mode.delta)
			eventually(t, 5*time.Second, "v1 serving", bodyIs(m.url+"/", "A"))

			bad := good
			bad.version = "2"
			bad.extra = func(rc *routev3.RouteConfiguration) {
				r := prefixRoute("/admin", "a")
				r.Match.Headers = []*routev3.HeaderMatcher{{Name: "x-user", InvertMatch: true,
					HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}}
				rc.VirtualHosts[0].Routes = append([]*routev3.Route{r}, rc.VirtualHosts[0].Routes...)
			}
			cp.set(t, "n1", bad)
			eventually(t, 3*time.Second, "the NACK reaches the server", func() bool {
				for _, n := range cp.nackList() {
					if strings.Contains(n, "invert_match") {
						return true
					}
				}
				return false
			})
			// A server that resends the rejected version at once gets
			// slowed-down NACKs, not a busy loop.
			time.Sleep(300 * time.Millisecond)
			if n := len(cp.nackList()); n > 8 {
				t.Errorf("%d NACKs in 300ms: repeated NACKs are not throttled", n)
			}
			t.Logf("%d NACKs", len(cp.nackList()))
			st := m.client.Status()
			if nk := st.Types["rds"].LastNACK; nk == nil || !strings.Contains(nk.Error, `route_configuration "local"`) {
				t.Errorf("rds last NACK = %+v, want the reason with the resource name", nk)
			}
			for range 20 {
				if code, body, err := get(m.url + "/admin"); err != nil || code != 200 || body != "A /admin" {
					t.Fatalf("old config must keep serving: %d %q %v", code, body, err)
				}
			}

			// An update the data plane rejects (a weight out of range) is
			// NACKed too.
			cp.set(t, "n1", spec{version: "3", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}},
				extra: func(rc *routev3.RouteConfiguration) {
					rc.VirtualHosts[0].Routes[0].GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx", NumRetries: wrapU32(20)}
				}})
			eventually(t, 3*time.Second, "the invalid config is NACKed", func() bool {
				for _, n := range cp.nackList() {
					if strings.Contains(n, "attempts") {
						return true
					}
				}
				return false
			})
			if code, body, _ := get(m.url + "/"); code != 200 || body != "A /" {
				t.Fatalf("old config must keep serving: %d %q", code, body)
			}

			fixed := good
			fixed.version = "4"
			fixed.routes = []*routev3.Route{prefixRoute("/fixed", "a"), prefixRoute("/", "a")}
			cp.set(t, "n1", fixed)
			eventually(t, 3*time.Second, "the fixed snapshot is applied", func() bool {
				return m.client.Status().Types["rds"].LastNACK != nil && len(m.last().Listeners[0].VirtualHosts[0].Routes) == 2
			})
		})
	}
}

// TestReconnectResumes: the management server stops mid-stream; meshd
// keeps serving, reconnects with backoff when it is back, says which
// versions it holds, and takes the new snapshot.
func TestReconnectResumes(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			a, b := startBackend(t, "A"), startBackend(t, "B")
			cp := startControlPlane(t, "127.0.0.1:0", nil)
			listen := freeAddr(t)
			cp.set(t, "n1", spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}})
			m := startMeshd(t, cp.addr, "n1", listen, mode.delta)
			eventually(t, 5*time.Second, "v1 serving", bodyIs(m.url+"/", "A"))

			cp.grpc.Stop()
			eventually(t, 3*time.Second, "the client sees the stream end", func() bool { return !m.client.Status().Connected })
			if code, body, _ := get(m.url + "/"); code != 200 || body != "A /" {
				t.Fatalf("config must keep serving while the server is away: %d %q", code, body)
			}
			time.Sleep(300 * time.Millisecond) // a few failed reconnects

			cp2 := startControlPlane(t, cp.addr, cp.cache)
			eventually(t, 5*time.Second, "reconnected", func() bool { return m.client.Status().Connected })
			cp2.set(t, "n1", spec{version: "2", listen: listen, routes: []*routev3.Route{prefixRoute("/", "b")}, clusters: map[string][]string{"a": {a.addr}, "b": {b.addr}}})
			eventually(t, 3*time.Second, "v2 serving after reconnect", bodyIs(m.url+"/", "B"))
			if m.client.Status().Reconnects == 0 {
				t.Error("status counts no reconnect")
			}
			cp2.mu.Lock()
			defer cp2.mu.Unlock()
			resumed := false
			if mode.delta {
				for _, r := range cp2.deltas {
					if len(r.GetInitialResourceVersions()) > 0 {
						resumed = true
					}
				}
			} else {
				for _, r := range cp2.requests {
					if r.GetResponseNonce() == "" && r.GetVersionInfo() == "1" {
						resumed = true
					}
				}
			}
			if !resumed {
				t.Error("the new stream did not say which versions meshd holds")
			}
		})
	}
}

// TestWarmingWaitsForEndpoints: a new cluster waits for its endpoints
// before anything routes to it; the old config serves meanwhile.
func TestWarmingWaitsForEndpoints(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			a, b := startBackend(t, "A"), startBackend(t, "B")
			cp := startControlPlane(t, "127.0.0.1:0", nil)
			listen := freeAddr(t)
			cp.set(t, "n1", spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}})
			m := startMeshd(t, cp.addr, "n1", listen, mode.delta)
			eventually(t, 5*time.Second, "v1 serving", bodyIs(m.url+"/", "A"))

			// Cluster b and the route to it, but not b's endpoints yet.
			cp.set(t, "n1", spec{version: "2", listen: listen, routes: []*routev3.Route{prefixRoute("/", "b")},
				clusters: map[string][]string{"a": {a.addr}, "b": {b.addr}}, noEndpoints: []string{"b"}})
			eventually(t, 3*time.Second, "waiting for b's endpoints", func() bool {
				w := m.client.Status().Waiting
				return len(w.Endpoints) == 1 && w.Endpoints[0] == "b"
			})
			for range 20 {
				if code, body, err := get(m.url + "/"); err != nil || code != 200 || body != "A /" {
					t.Fatalf("while b warms the old config must serve: %d %q %v", code, body, err)
				}
			}
			if n := cp.nackList(); len(n) > 0 {
				t.Errorf("warming is not an error: NACKs %v", n)
			}

			cp.set(t, "n1", spec{version: "3", listen: listen, routes: []*routev3.Route{prefixRoute("/", "b")},
				clusters: map[string][]string{"a": {a.addr}, "b": {b.addr}}})
			eventually(t, time.Second, "b warmed and serving", bodyIs(m.url+"/", "B"))
			if w := m.client.Status().Waiting; len(w.Endpoints)+len(w.Routes)+len(w.Clusters) > 0 {
				t.Errorf("still waiting for %+v", w)
			}
		})
	}
}

// TestWarmingGivesUp: endpoints that never come count as none once the
// warm timeout passes, as with Envoy's initial_fetch_timeout: the rest of
// the update applies and the route to the empty cluster answers 503.
func TestWarmingGivesUp(t *testing.T) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	cp := startControlPlane(t, "127.0.0.1:0", nil)
	listen := freeAddr(t)
	cp.set(t, "n1", spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}})
	m := startMeshd(t, cp.addr, "n1", listen, false, func(o *Options) { o.WarmTimeout = 300 * time.Millisecond })
	eventually(t, 5*time.Second, "v1 serving", bodyIs(m.url+"/", "A"))
	cp.set(t, "n1", spec{version: "2", listen: listen, routes: []*routev3.Route{prefixRoute("/b", "b"), prefixRoute("/", "a")},
		clusters: map[string][]string{"a": {a.addr}, "b": {b.addr}}, noEndpoints: []string{"b"}})
	eventually(t, 3*time.Second, "route to the never-warmed cluster answers 503", func() bool {
		code, body, err := get(m.url + "/b")
		return err == nil && code == 503 && body == "no healthy upstream"
	})
	if code, body, _ := get(m.url + "/x"); code != 200 || body != "A /x" {
		t.Errorf("the rest of the update must apply: %d %q", code, body)
	}
	if !strings.Contains(strings.Join(m.client.Status().Warnings, "\n"), `cluster "b" has no endpoints`) {
		t.Errorf("warnings %v do not say why /b answers 503", m.client.Status().Warnings)
	}
}

// TestMissingCluster: a route to a cluster CDS never sent waits a grace
// period (a control plane may send RDS first), then answers 503 as Envoy
// does for an unknown cluster.
func TestMissingCluster(t *testing.T) {
	a := startBackend(t, "A")
	cp := startControlPlane(t, "127.0.0.1:0", nil)
	listen := freeAddr(t)
	cp.set(t, "n1", spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/ghost", "ghost"), prefixRoute("/", "a")},
		clusters: map[string][]string{"a": {a.addr}}})
	m := startMeshd(t, cp.addr, "n1", listen, false, func(o *Options) { o.MissingClusterGrace = 200 * time.Millisecond })
	eventually(t, 5*time.Second, "applied after the grace", func() bool { return m.last() != nil })
	if code, body, _ := get(m.url + "/ghost/x"); code != 503 || body != "no healthy upstream" {
		t.Errorf("route to an unknown cluster = %d %q, want 503", code, body)
	}
	if code, body, _ := get(m.url + "/x"); code != 200 || body != "A /x" {
		t.Errorf("other routes = %d %q", code, body)
	}
}

// TestApplyFailureNACKed: an update the data plane cannot apply (its
// listener port is taken) is NACKed with the data plane's error.
func TestApplyFailureNACKed(t *testing.T) {
	a := startBackend(t, "A")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cp := startControlPlane(t, "127.0.0.1:0", nil)
	listen := freeAddr(t)
	cp.set(t, "n1", spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}})
	m := startMeshd(t, cp.addr, "n1", listen, false)
	eventually(t, 5*time.Second, "v1 serving", bodyIs(m.url+"/", "A"))
	cp.set(t, "n1", spec{version: "2", listen: taken.Addr().String(), routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}})
	eventually(t, 3*time.Second, "the bind failure is NACKed", func() bool {
		for _, n := range cp.nackList() {
			if strings.Contains(n, "data plane rejected") && strings.Contains(n, "address already in use") {
				return true
			}
		}
		return false
	})
	if code, body, _ := get(m.url + "/"); code != 200 || body != "A /" {
		t.Errorf("old listener must keep serving: %d %q", code, body)
	}
	if st := m.client.Status(); st.LastApplyError == "" || st.Types["lds"].LastNACK == nil {
		t.Errorf("status = %+v", st)
	}
}
