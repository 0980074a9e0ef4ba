package xdstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Server is a running management server.
type Server struct {
	addr  string
	cache cachev3.SnapshotCache
	grpc  *grpc.Server
	once  sync.Once

	mu       sync.Mutex
	requests []Request
	nodes    map[int64]string // stream id → node id
}

// Request is one discovery request a client sent (an ACK, a NACK, or a
// first subscription).
type Request struct {
	// Node is the client's node id.
	Node string
	// TypeURL is the resource type asked for.
	TypeURL string
	// VersionInfo is the version the client last accepted ("" at first;
	// delta requests leave it empty).
	VersionInfo string
	// Nonce answers the response this request ACKs or NACKs.
	Nonce string
	// Error is set when the request is a NACK: the client's reason.
	Error string
	// Delta tells a delta-protocol request from a state-of-the-world one.
	Delta bool
}

type config struct {
	addr     string
	grpcOpts []grpc.ServerOption
}

// Option tunes New and Start.
type Option func(*config)

// Address binds addr instead of a free loopback port, for a test that
// stops a server and starts another where the client expects it.
func Address(addr string) Option { return func(c *config) { c.addr = addr } }

// GRPCOptions pass through to grpc.NewServer (TLS credentials, keepalive).
func GRPCOptions(opts ...grpc.ServerOption) Option {
	return func(c *config) { c.grpcOpts = append(c.grpcOpts, opts...) }
}

// New starts a server; the caller must Stop it. Tests use Start.
func New(opts ...Option) (*Server, error) {
	cfg := config{addr: "127.0.0.1:0"}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil), nodes: map[int64]string{}}
	cb := serverv3.CallbackFuncs{
		StreamRequestFunc: func(id int64, r *discoveryv3.DiscoveryRequest) error {
			s.record(id, Request{Node: r.GetNode().GetId(), TypeURL: r.GetTypeUrl(), VersionInfo: r.GetVersionInfo(),
				Nonce: r.GetResponseNonce(), Error: r.GetErrorDetail().GetMessage()})
			return nil
		},
		StreamClosedFunc:      func(id int64, _ *corev3.Node) { s.forget(id) },
		DeltaStreamClosedFunc: func(id int64, _ *corev3.Node) { s.forget(id) },
		StreamDeltaRequestFunc: func(id int64, r *discoveryv3.DeltaDiscoveryRequest) error {
			s.record(id, Request{Node: r.GetNode().GetId(), TypeURL: r.GetTypeUrl(),
				Nonce: r.GetResponseNonce(), Error: r.GetErrorDetail().GetMessage(), Delta: true})
			return nil
		},
	}
	xs := serverv3.NewServer(context.Background(), s.cache, cb)
	var ln net.Listener
	var err error
	for range 50 { // a port just released by a stopped server may linger
		if ln, err = net.Listen("tcp", cfg.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("xdstest: listen %s: %w", cfg.addr, err)
	}
	s.addr = ln.Addr().String()
	s.grpc = grpc.NewServer(cfg.grpcOpts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(s.grpc, xs)
	listenerservice.RegisterListenerDiscoveryServiceServer(s.grpc, xs)
	routeservice.RegisterRouteDiscoveryServiceServer(s.grpc, xs)
	clusterservice.RegisterClusterDiscoveryServiceServer(s.grpc, xs)
	endpointservice.RegisterEndpointDiscoveryServiceServer(s.grpc, xs)
	go func() { _ = s.grpc.Serve(ln) }()
	return s, nil
}

// Start runs a server for t and stops it at t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// record keeps r, naming its node even when the client sent the node only
// on the stream's first request (as delta clients and Envoy do).
func (s *Server) record(stream int64, r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Node != "" {
		s.nodes[stream] = r.Node
	} else {
		r.Node = s.nodes[stream]
	}
	s.requests = append(s.requests, r)
}

func (s *Server) forget(stream int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nodes, stream)
}

// Addr is the server's "host:port", for xds.Options.Server or meshd's
// --xds-server flag.
func (s *Server) Addr() string { return s.addr }

// Cache is the snapshot cache, for what SetSnapshot does not cover
// (ClearSnapshot, snapshots with TTLs, status per node).
func (s *Server) Cache() cachev3.SnapshotCache { return s.cache }

// Stop closes every stream and the listener, as a control plane that went
// away; clients should keep their last config and reconnect.
func (s *Server) Stop() { s.once.Do(s.grpc.Stop) }

// SetSnapshot publishes resources as version for node (the client's node
// id). Resources are grouped by their type (Listener, RouteConfiguration,
// Cluster, ClusterLoadAssignment, Secret, ...); a type missing from the
// list is published empty. It does not require the snapshot to be
// consistent, so a test can send a cluster before its endpoints; call
// Consistent for that check.
func (s *Server) SetSnapshot(ctx context.Context, node, version string, resources ...types.Resource) error {
	byType := map[resourcev3.Type][]types.Resource{}
	for _, r := range resources {
		if r == nil {
			return errors.New("xdstest: nil resource")
		}
		typ := resourcev3.APITypePrefix + string(proto.MessageName(r))
		if cachev3.GetResponseType(typ) == types.UnknownType {
			return fmt.Errorf("xdstest: %s is not an xDS resource type", proto.MessageName(r))
		}
		byType[typ] = append(byType[typ], r)
	}
	snap, err := cachev3.NewSnapshot(version, byType)
	if err != nil {
		return fmt.Errorf("xdstest: snapshot %s: %w", version, err)
	}
	if err := s.cache.SetSnapshot(ctx, node, snap); err != nil {
		return fmt.Errorf("xdstest: set snapshot %s for %s: %w", version, node, err)
	}
	return nil
}

// Consistent reports whether resources reference only each other: every
// EDS cluster has its endpoints and every listener's route configuration
// is present (the check Envoy's warming relies on).
func Consistent(version string, resources ...types.Resource) error {
	byType := map[resourcev3.Type][]types.Resource{}
	for _, r := range resources {
		typ := resourcev3.APITypePrefix + string(proto.MessageName(r))
		byType[typ] = append(byType[typ], r)
	}
	snap, err := cachev3.NewSnapshot(version, byType)
	if err != nil {
		return fmt.Errorf("xdstest: snapshot %s: %w", version, err)
	}
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("xdstest: snapshot %s: %w", version, err)
	}
	return nil
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// NACKs returns the requests that rejected a response, oldest first.
func (s *Server) NACKs() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Error != "" {
			out = append(out, r)
		}
	}
	return out
}

// Acked reports whether node has accepted version of typeURL (a
// state-of-the-world client names the accepted version in its next
// request).
func (s *Server) Acked(node, typeURL, version string) bool {
	for _, r := range s.Requests() {
		if r.Node == node && r.TypeURL == typeURL && r.VersionInfo == version && r.Error == "" {
			return true
		}
	}
	return false
}
