package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
	"github.com/wasmesh/wasmesh/xds"
	"google.golang.org/grpc"
)

// TestXDS runs a real ADS client against go-control-plane, has it NACK an
// update, and checks meshctl xds prints the versions, nonces and the NACK.
func TestXDS(t *testing.T) {
	up, _ := net.Listen("tcp", "127.0.0.1:0")
	go http.Serve(up, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer up.Close()
	lp, _ := net.Listen("tcp", "127.0.0.1:0")
	listen := lp.Addr().String()
	lp.Close()
	uh, upp, _ := net.SplitHostPort(up.Addr().String())
	lh, lpp, _ := net.SplitHostPort(listen)
	bs, err := xds.ParseBootstrap(fmt.Appendf(nil, `
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
                route_config: { name: local, virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: app } }] }] }
                http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
  clusters:
    - name: app
      type: STATIC
      load_assignment: { cluster_name: app, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: %s, port_value: %s } } } }] }] }
`, lh, lpp, uh, upp))
	if err != nil {
		t.Fatal(err)
	}
	var lis, cl types.Resource
	for _, m := range bs.Static {
		if l, ok := m.(*listenerv3.Listener); ok {
			lis = l
		} else {
			cl = m.(types.Resource)
		}
	}
	cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	set := func(v string, l types.Resource) {
		snap, _ := cachev3.NewSnapshot(v, map[resourcev3.Type][]types.Resource{resourcev3.ListenerType: {l}, resourcev3.ClusterType: {cl}})
		if err := cache.SetSnapshot(context.Background(), "ctl-node", snap); err != nil {
			t.Fatal(err)
		}
	}
	set("1", lis)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(context.Background(), cache, nil))
	go gs.Serve(ln)
	defer gs.Stop()

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := dataplane.New(dataplane.Options{Logger: quiet})
	defer srv.Shutdown(t.Context())
	c, err := xds.New(xds.Options{Server: ln.Addr().String(), Node: xds.Node{ID: "ctl-node"}, Apply: srv.Apply, Logger: quiet,
		Base: &conf.Config{Logging: conf.Logging{AccessLog: new(bool)}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.AddStatus("xds", func() any { return c.Status() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(what string, ok func(xds.Status) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(c.Status()); {
			if time.Now().After(deadline) {
				t.Fatalf("never %s: %+v", what, c.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("applied", func(s xds.Status) bool { return s.AppliedVersion != "" })

	bad := lis.(*listenerv3.Listener)
	bad = &listenerv3.Listener{Name: bad.Name, Address: bad.Address, FilterChains: bad.FilterChains,
		ListenerFilters: []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.proxy_protocol"}}}
	set("2", bad)
	wait("NACKed", func(s xds.Status) bool { return s.Types["lds"].LastNACK != nil })

	out, err := run(t, "xds", "--admin", admin)
	if err != nil {
		t.Fatalf("meshctl xds: %v\n%s", err, out)
	}
	for _, want := range []string{ln.Addr().String() + " (sotw, connected)", "ctl-node", "cds=1", "TYPE", "lds", "(version 2)", "proxy_protocol", "NACKS"} {
		if !strings.Contains(out, want) {
			t.Errorf("meshctl xds output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "xds", "-o", "json", "--admin", admin)
	if err != nil || !strings.Contains(out, `"last_nack"`) || !strings.Contains(out, `"nonce"`) {
		t.Errorf("meshctl xds -o json: %v\n%s", err, out)
	}
}

func TestXDSWithoutXDS(t *testing.T) {
	srv := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer srv.Shutdown(t.Context())
	src, err := conf.LoadBytes([]string{"t.yaml"}, [][]byte{[]byte("drain_grace: 1ms\nlisteners: []\nclusters: []\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Apply(src.Config, "v"); err != nil {
		t.Fatal(err)
	}
	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "xds", "--admin", admin); err == nil || !strings.Contains(err.Error(), "does not take its config from xDS") {
		t.Errorf("meshctl xds on a file-configured meshd: %v", err)
	}
}
