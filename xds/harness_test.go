package xds

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// backend is a real HTTP server answering with its name and the path.
type backend struct {
	name, addr string
	hits       atomic.Int64
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// controlPlane is go-control-plane's server with a snapshot cache on
// loopback. It records every request meshd sends.
type controlPlane struct {
	addr  string
	cache cachev3.SnapshotCache
	grpc  *grpc.Server

	mu       sync.Mutex
	nacks    []string
	requests []*discoveryv3.DiscoveryRequest
	deltas   []*discoveryv3.DeltaDiscoveryRequest
}

func startControlPlane(t *testing.T, addr string, cache cachev3.SnapshotCache, opts ...grpc.ServerOption) *controlPlane {
	t.Helper()
	if cache == nil {
		cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	}
	cp := &controlPlane{cache: cache}
	cb := serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, r *discoveryv3.DiscoveryRequest) error {
			cp.mu.Lock()
			defer cp.mu.Unlock()
			cp.requests = append(cp.requests, r)
			if r.GetErrorDetail() != nil {
				cp.nacks = append(cp.nacks, r.GetErrorDetail().GetMessage())
			}
			return nil
		},
		StreamDeltaRequestFunc: func(_ int64, r *discoveryv3.DeltaDiscoveryRequest) error {
			cp.mu.Lock()
			defer cp.mu.Unlock()
			cp.deltas = append(cp.deltas, r)
			if r.GetErrorDetail() != nil {
				cp.nacks = append(cp.nacks, r.GetErrorDetail().GetMessage())
			}
			return nil
		},
	}
	srv := serverv3.NewServer(context.Background(), cache, cb)
	var ln net.Listener
	var err error
	for range 50 { // a restarted server rebinds its old port
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	cp.addr = ln.Addr().String()
	cp.grpc = grpc.NewServer(opts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(cp.grpc, srv)
	go cp.grpc.Serve(ln)
	t.Cleanup(cp.grpc.Stop)
	return cp
}

func (cp *controlPlane) nackList() []string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]string(nil), cp.nacks...)
}

func (cp *controlPlane) set(t *testing.T, node string, s spec) {
	t.Helper()
	snap, err := cachev3.NewSnapshot(s.version, s.resources())
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Consistent(); err != nil && len(s.noEndpoints) == 0 {
		t.Fatalf("snapshot %s: %v", s.version, err)
	}
	if err := cp.cache.SetSnapshot(context.Background(), node, snap); err != nil {
		t.Fatal(err)
	}
}

// spec describes a snapshot: one listener, its routes, EDS clusters.
type spec struct {
	version  string
	listen   string
	routes   []*routev3.Route
	clusters map[string][]string // cluster → endpoint addresses
	// extra, when set, edits the route configuration.
	extra func(*routev3.RouteConfiguration)
	// noEndpoints are clusters whose assignment the snapshot leaves out.
	noEndpoints []string
}

func prefixRoute(prefix, cluster string) *routev3.Route {
	return &routev3.Route{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}},
	}
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func socket(addr string) *corev3.Address {
	host, port, _ := net.SplitHostPort(addr)
	var p uint32
	fmt.Sscan(port, &p)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: p}}}}
}

func (s spec) resources() map[resourcev3.Type][]types.Resource {
	rc := &routev3.RouteConfiguration{Name: "local", VirtualHosts: []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: s.routes}}}
	if s.extra != nil {
		s.extra(rc)
	}
	router, _ := anypb.New(&routerv3.Router{})
	hcm, _ := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix:     "ingress",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "local", ConfigSource: ads()}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	l := &listenerv3.Listener{Name: "ingress", Address: socket(s.listen), FilterChains: []*listenerv3.FilterChain{{
		Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}},
	}}}
	out := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: {l},
		resourcev3.RouteType:    {rc},
	}
	for name, eps := range s.clusters {
		out[resourcev3.ClusterType] = append(out[resourcev3.ClusterType], &clusterv3.Cluster{
			Name: name, ConnectTimeout: durationpb.New(time.Second),
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		})
		if slices.Contains(s.noEndpoints, name) {
			continue
		}
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{}}}
		for _, a := range eps {
			cla.Endpoints[0].LbEndpoints = append(cla.Endpoints[0].LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socket(a)}},
				LoadBalancingWeight: wrapperspb.UInt32(1),
			})
		}
		out[resourcev3.EndpointType] = append(out[resourcev3.EndpointType], cla)
	}
	return out
}

// meshd is a data plane driven by an ADS client, both in-process.
type meshd struct {
	srv    *dataplane.Server
	client *Client
	url    string
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	applied []*conf.Config
}

func startMeshd(t *testing.T, server, node, listen string, delta bool, tweak ...func(*Options)) *meshd {
	t.Helper()
	m := &meshd{srv: dataplane.New(dataplane.Options{Logger: quiet}), url: "http://" + listen, done: make(chan struct{})}
	opts := Options{
		Server: server, Node: Node{ID: node, Cluster: "test", Metadata: map[string]any{"test": t.Name()}}, Delta: delta,
		Base:   &conf.Config{Logging: conf.Logging{AccessLog: new(bool)}, DrainTimeout: conf.Duration(time.Second), DrainGrace: conf.Duration(time.Millisecond)},
		Logger: quiet, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Apply: func(cfg *conf.Config, v string) error {
			if err := m.srv.Apply(cfg, v); err != nil {
				return err
			}
			m.mu.Lock()
			m.applied = append(m.applied, cfg)
			m.mu.Unlock()
			return nil
		},
	}
	for _, f := range tweak {
		f(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.client = c
	m.srv.AddStatus("xds", func() any { return c.Status() })
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-m.done
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = m.srv.Shutdown(sctx)
	})
	return m
}

func (m *meshd) last() *conf.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.applied) == 0 {
		return nil
	}
	return m.applied[len(m.applied)-1]
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 5 * time.Second}

func get(url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// eventually polls until fn holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bodyIs(url, prefix string) func() bool {
	return func() bool {
		code, body, err := get(url)
		return err == nil && code == 200 && strings.HasPrefix(body, prefix)
	}
}

func wrapU32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }
