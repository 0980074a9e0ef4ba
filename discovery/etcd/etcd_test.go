package etcd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	etcdresolver "go.etcd.io/etcd/client/v3/naming/resolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/registrytest"
	"github.com/wasmesh/wasmesh/meshtest/etcdtest"
)

func uniquePrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

func open(t *testing.T, endpoints []string, prefix string) *Registry {
	t.Helper()
	r, err := New(Config{
		Endpoints: endpoints, Prefix: prefix,
		HealthInterval: discovery.Duration(200 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	prefix := uniquePrefix()
	registrytest.Run(t, registrytest.Harness{
		Features: registrytest.Features{Register: true, Dynamic: true, Expiry: true},
		New: func(t *testing.T, _ []discovery.Instance) discovery.Registry {
			return open(t, srv.Endpoints(), prefix)
		},
		Crash:      func(_ *testing.T, r discovery.Registry) { r.(*Registry).crash() },
		Check:      discovery.Check{TTL: 2 * time.Second},
		ExpiryWait: 15 * time.Second,
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func inst(service, id string, port int) discovery.Instance {
	return discovery.Instance{Service: service, ID: id, Address: "127.0.0.1", Port: port, Version: "1", Tags: []string{"v1"}}
}

// waitFor reads the watch until a set with exactly ids and no error shows;
// it returns every update read.
func waitFor(t *testing.T, ch <-chan discovery.Update, ids ...string) []discovery.Update {
	t.Helper()
	slices.Sort(ids)
	var seen []discovery.Update
	timeout := time.After(20 * time.Second)
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed while waiting for %v", ids)
			}
			seen = append(seen, u)
			got := []string{}
			for _, i := range u.Instances {
				got = append(got, i.ID)
			}
			if u.Err == nil && slices.Equal(got, append([]string{}, ids...)) {
				return seen
			}
		case <-timeout:
			last := "none"
			if len(seen) > 0 {
				last = describeUpdate(seen[len(seen)-1])
			}
			t.Fatalf("no update with ids %v (last: %s)", ids, last)
		}
	}
}

func describeUpdate(u discovery.Update) string {
	s := "["
	for _, i := range u.Instances {
		s += i.ID + " "
	}
	if u.Err != nil {
		s += "err=" + u.Err.Error()
	}
	return s + "]"
}

// TestEndpointsPackageCompatible proves the layout and value are the ones
// etcd's naming/endpoints (and so gRPC's etcd resolver) uses, both ways.
func TestEndpointsPackageCompatible(t *testing.T) {
	srv := etcdtest.Start(t)
	prefix := uniquePrefix()
	r := open(t, srv.Endpoints(), prefix)
	ctx := ctxT(t)
	a := inst("api", "a", 7001)
	a.Metadata = map[string]string{"zone": "eu-1"}
	if err := r.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	target := prefix + "/api"
	em, err := endpoints.NewManager(r.Client(), target)
	if err != nil {
		t.Fatal(err)
	}
	list, err := em.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ep, ok := list[target+"/a"]
	if !ok || ep.Addr != "127.0.0.1:7001" {
		t.Fatalf("naming/endpoints sees %+v, want key %s/a with Addr 127.0.0.1:7001", list, target)
	}
	md, ok := ep.Metadata.(map[string]any)
	if !ok || md["version"] != "1" {
		t.Fatalf("metadata as seen by naming/endpoints: %#v", ep.Metadata)
	}

	// An endpoint another program added with naming/endpoints is resolved.
	if err := em.AddEndpoint(ctx, target+"/ext", endpoints.Endpoint{Addr: "10.1.2.3:7002"}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].ID != "ext" || got[1].Address != "10.1.2.3" || got[1].Port != 7002 {
		t.Fatalf("Resolve = %+v, want a and ext (10.1.2.3:7002)", got)
	}
}

// TestGRPCResolverReachesRegisteredInstance dials "etcd:///<prefix>/svc"
// through gRPC's etcd resolver and calls a server registered here.
func TestGRPCResolverReachesRegisteredInstance(t *testing.T) {
	srv := etcdtest.Start(t)
	prefix := uniquePrefix()
	r := open(t, srv.Endpoints(), prefix)
	ctx := ctxT(t)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	port := lis.Addr().(*net.TCPAddr).Port
	if err := r.Register(ctx, inst("greeter", "g1", port)); err != nil {
		t.Fatal(err)
	}
	builder, err := etcdresolver.NewBuilder(r.Client())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("etcd:///"+prefix+"/greeter",
		grpc.WithResolvers(builder), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("health check through the etcd resolver: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v", resp.GetStatus())
	}
}

// TestWatchSurvivesServerRestart restarts etcd (same data, same ports)
// under a running watch; changes made after the restart arrive and the
// registrations survive (their leases outlive the short outage).
func TestWatchSurvivesServerRestart(t *testing.T) {
	srv := etcdtest.Start(t)
	prefix := uniquePrefix()
	owner := open(t, srv.Endpoints(), prefix)
	watcher := open(t, srv.Endpoints(), prefix)
	ctx := ctxT(t)
	for _, id := range []string{"a", "b"} {
		if err := owner.Register(ctx, inst("api", id, 8000)); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := watcher.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "a", "b")

	srv.Stop(t)
	srv.Restart(t)

	if err := owner.Register(ctx, inst("api", "c", 8000)); err != nil {
		t.Fatal(err)
	}
	if err := owner.Deregister(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "b", "c")
	if err := watcher.Health(ctx); err != nil {
		t.Fatalf("Health after restart: %v", err)
	}
}

// proxy is a TCP relay that a test can cut, to disconnect one client from
// etcd while others keep writing.
type proxy struct {
	t        *testing.T
	upstream string
	lis      net.Listener
	mu       sync.Mutex
	cut      bool
	conns    []net.Conn
}

func newProxy(t *testing.T, upstream string) *proxy {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, upstream: upstream, lis: lis}
	t.Cleanup(func() { _ = lis.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return "http://" + p.lis.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

// TestWatchMissesNothingAcrossDisconnect cuts the watcher off while
// another client changes the service, then reconnects it: the watch must
// flag its set as stale meanwhile and end with exactly the truth, deletes
// included.
func TestWatchMissesNothingAcrossDisconnect(t *testing.T) {
	for _, compact := range []bool{false, true} {
		name := "resume"
		if compact {
			name = "compacted-relist"
		}
		t.Run(name, func(t *testing.T) {
			srv := etcdtest.Start(t)
			prefix := uniquePrefix()
			upstream := srv.Endpoints()[0][len("http://"):]
			px := newProxy(t, upstream)
			writer := open(t, srv.Endpoints(), prefix)
			watcher := open(t, []string{px.addr()}, prefix)
			ctx := ctxT(t)
			for _, id := range []string{"a", "b"} {
				if err := writer.Register(ctx, inst("api", id, 8000)); err != nil {
					t.Fatal(err)
				}
			}
			ch, err := watcher.Watch(ctx, "api", discovery.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, ch, "a", "b")

			px.setCut(true)
			// The watch says its set is stale while it cannot reach etcd.
			deadline := time.After(10 * time.Second)
		stale:
			for {
				select {
				case u := <-ch:
					if errors.Is(u.Err, discovery.ErrUnavailable) {
						if len(u.Instances) != 2 {
							t.Fatalf("stale update dropped the last known set: %s", describeUpdate(u))
						}
						break stale
					}
				case <-deadline:
					t.Fatal("no stale (ErrUnavailable) update while cut off")
				}
			}
			for _, id := range []string{"c", "d"} {
				if err := writer.Register(ctx, inst("api", id, 8000)); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []string{"a", "c"} {
				if err := writer.Deregister(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if compact {
				resp, err := writer.Client().Get(ctx, "any")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := writer.Client().Compact(ctx, resp.Header.Revision); err != nil {
					t.Fatal(err)
				}
			}
			px.setCut(false)
			waitFor(t, ch, "b", "d")
		})
	}
}

// TestLeaseLostRegistersAgain revokes an instance's lease behind the
// registry's back (as its expiry during a long outage would): the keeper
// grants a new lease and the instance comes back.
func TestLeaseLostRegistersAgain(t *testing.T) {
	srv := etcdtest.Start(t)
	prefix := uniquePrefix()
	r := open(t, srv.Endpoints(), prefix)
	ctx := ctxT(t)
	if err := r.Register(ctx, inst("api", "a", 8000)); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "a")
	reg, _ := r.lookup("a")
	reg.mu.Lock()
	lease := reg.lease
	reg.mu.Unlock()
	if _, err := r.Client().Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch)
	waitFor(t, ch, "a")
	resp, err := r.Client().Get(ctx, prefix+"/api/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) == lease || resp.Kvs[0].Lease == 0 {
		t.Fatalf("key not back under a new lease: %+v", resp.Kvs)
	}
}

// TestTLS talks to an etcd that requires TLS and a client certificate.
func TestTLS(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithTLS())
	ctx := ctxT(t)
	r, err := New(Config{Endpoints: srv.Endpoints(), Prefix: uniquePrefix(), TLS: &TLSConfig{
		CAFile: srv.TLS.CAFile, CertFile: srv.TLS.ClientCertFile, KeyFile: srv.TLS.ClientKeyFile,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Register(ctx, inst("api", "a", 8000)); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Resolve(ctx, "api", discovery.Filter{}); err != nil || len(got) != 1 {
		t.Fatalf("Resolve over TLS = %v, %v", got, err)
	}
	noCert, err := New(Config{Endpoints: srv.Endpoints(), TLS: &TLSConfig{CAFile: srv.TLS.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	if err := noCert.Health(ctx); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Health without a client certificate = %v, want ErrUnavailable", err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]any
		ok   bool
	}{
		{"minimal", map[string]any{"endpoints": []any{"http://127.0.0.1:2379"}}, true},
		{"full", map[string]any{"endpoints": []any{"http://127.0.0.1:2379"}, "prefix": "x/", "ttl": "5s", "dial_timeout": "1s", "health_interval": "1s"}, true},
		{"no endpoints", map[string]any{}, false},
		{"unknown key", map[string]any{"endpoints": []any{"http://127.0.0.1:2379"}, "tls_ca": "x"}, false},
		{"tls", map[string]any{"endpoints": []any{"https://127.0.0.1:2379"}, "tls": map[string]any{"server_name": "etcd"}}, true},
		{"tls cert without key", map[string]any{"endpoints": []any{"https://127.0.0.1:2379"}, "tls": map[string]any{"cert_file": "c.pem"}}, false},
		{"tls missing ca", map[string]any{"endpoints": []any{"https://127.0.0.1:2379"}, "tls": map[string]any{"ca_file": "/nonexistent/ca.pem"}}, false},
		{"ttl too short", map[string]any{"endpoints": []any{"http://127.0.0.1:2379"}, "ttl": "100ms"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "etcd", Options: tt.opts})
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				_ = r.Close()
				return
			}
			if !errors.Is(err, discovery.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}
