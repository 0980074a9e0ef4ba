package xdstest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/meshtest/xdstest"
	"github.com/wasmesh/wasmesh/xds"
)

// applied records what a real xds.Client hands to its Apply, and can be
// told to reject a version (the client then NACKs it).
type applied struct {
	mu     sync.Mutex
	got    map[string][]string // applied version → endpoints of cluster "api"
	reject string
}

func (a *applied) apply(cfg *conf.Config, version string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reject != "" && slices.ContainsFunc(cfg.Clusters, func(c conf.Cluster) bool { return c.Name == a.reject }) {
		return errors.New("rejected by the test")
	}
	var eps []string
	for _, c := range cfg.Clusters {
		if c.Name == "api" {
			for _, e := range c.Endpoints {
				eps = append(eps, e.Address)
			}
		}
	}
	slices.Sort(eps)
	a.got[version] = eps
	return nil
}

// endpoints returns the endpoints of the config whose EDS version is
// version (the client names a config by every type's version).
func (a *applied) endpoints(version string) ([]string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for v, eps := range a.got {
		if slices.Contains(strings.Split(v, ","), "eds="+version) {
			return eps, true
		}
	}
	return nil, false
}

func eventually(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func runClient(t *testing.T, srv *xdstest.Server, node string, delta bool, a *applied) {
	t.Helper()
	c, err := xds.New(xds.Options{
		Server: srv.Addr(), Node: xds.Node{ID: node, Cluster: "test"}, Delta: delta, Apply: a.apply,
		Base:        &conf.Config{DrainTimeout: conf.Duration(time.Second)},
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestSnapshotsReachAClient(t *testing.T) {
	for _, delta := range []bool{false, true} {
		name := map[bool]string{false: "sotw", true: "delta"}[delta]
		t.Run(name, func(t *testing.T) {
			srv := xdstest.Start(t)
			ctx := context.Background()
			a := &applied{got: map[string][]string{}}
			node := "node-" + name
			set := func(version string, eps ...string) {
				t.Helper()
				err := srv.SetSnapshot(ctx, node, version,
					xdstest.HTTPListener("ingress", "127.0.0.1:0", "routes"),
					xdstest.RouteConfig("routes", xdstest.PrefixRoute("/", "api")),
					xdstest.EDSCluster("api"),
					xdstest.Endpoints("api", eps...))
				if err != nil {
					t.Fatal(err)
				}
			}
			set("v1", "127.0.0.1:9001", "127.0.0.1:9002")
			runClient(t, srv, node, delta, a)
			eventually(t, "v1 applied", func() bool {
				eps, ok := a.endpoints("v1")
				return ok && slices.Equal(eps, []string{"127.0.0.1:9001", "127.0.0.1:9002"})
			})
			set("v2", "127.0.0.1:9003")
			eventually(t, "v2 applied", func() bool {
				eps, ok := a.endpoints("v2")
				return ok && slices.Equal(eps, []string{"127.0.0.1:9003"})
			})
			if !delta {
				eventually(t, "v2 ACKed", func() bool { return srv.Acked(node, resourcev3.EndpointType, "v2") })
			}
			if n := len(srv.NACKs()); n != 0 {
				t.Fatalf("NACKs of good snapshots: %+v", srv.NACKs())
			}
			// A cluster the client rejects is NACKed with its reason.
			a.mu.Lock()
			a.reject = "bad"
			a.mu.Unlock()
			if err := srv.SetSnapshot(ctx, node, "v3",
				xdstest.HTTPListener("ingress", "127.0.0.1:0", "routes"),
				xdstest.RouteConfig("routes", xdstest.PrefixRoute("/", "api")),
				xdstest.EDSCluster("api"), xdstest.Endpoints("api", "127.0.0.1:9003"),
				xdstest.EDSCluster("bad"), xdstest.Endpoints("bad", "127.0.0.1:9009")); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a NACK recorded", func() bool { return len(srv.NACKs()) > 0 })
			for _, r := range srv.NACKs() {
				if r.Node != node || r.Delta != delta {
					t.Fatalf("NACK from %q delta=%v, want %q delta=%v", r.Node, r.Delta, node, delta)
				}
			}
		})
	}
}

func TestSetSnapshotRejectsNonXDS(t *testing.T) {
	srv := xdstest.Start(t)
	err := srv.SetSnapshot(context.Background(), "n", "v1", &emptypb.Empty{})
	if err == nil {
		t.Fatal("SetSnapshot accepted a resource that is not an xDS type")
	}
}

func TestConsistent(t *testing.T) {
	tests := []struct {
		name string
		res  []types.Resource
		ok   bool
	}{
		{"cluster with endpoints", []types.Resource{xdstest.EDSCluster("api"), xdstest.Endpoints("api", "127.0.0.1:1")}, true},
		{"cluster without endpoints", []types.Resource{xdstest.EDSCluster("api")}, false},
		{"listener without its routes", []types.Resource{xdstest.HTTPListener("l", "127.0.0.1:1", "routes")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := xdstest.Consistent("v1", tt.res...)
			if (err == nil) != tt.ok {
				t.Fatalf("Consistent = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestStopEndsStreams(t *testing.T) {
	srv := xdstest.Start(t)
	addr := srv.Addr()
	srv.Stop()
	// A new server can take the same address, as a restarted control plane.
	again := xdstest.Start(t, xdstest.Address(addr))
	if again.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", again.Addr(), addr)
	}
}
