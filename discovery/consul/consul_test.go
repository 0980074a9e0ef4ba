package consul

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/consul/internal/consultest"
	"github.com/wasmesh/wasmesh/discovery/registrytest"
)

func openAt(t *testing.T, cfg Config) *Registry {
	t.Helper()
	if cfg.MinQueryInterval == 0 {
		cfg.MinQueryInterval = discovery.Duration(20 * time.Millisecond)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func harness(cfg Config, check discovery.Check, expiryWait time.Duration) registrytest.Harness {
	return registrytest.Harness{
		Features: registrytest.Features{Register: true, Dynamic: true, Expiry: true},
		New: func(t *testing.T, _ []discovery.Instance) discovery.Registry {
			return openAt(t, cfg)
		},
		Crash:      func(_ *testing.T, r discovery.Registry) { r.(*Registry).crash() },
		Check:      check,
		ExpiryWait: expiryWait,
	}
}

// TestConformance runs the suite against the in-test Consul API server.
func TestConformance(t *testing.T) {
	srv := consultest.Start(t)
	registrytest.Run(t, harness(Config{Address: srv.Addr},
		discovery.Check{TTL: time.Second, DeregisterAfter: 2 * time.Second}, 10*time.Second))
}

// TestConformanceRealAgent runs the same suite against a real agent when
// CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN is honoured).
func TestConformanceRealAgent(t *testing.T) {
	addr := os.Getenv("CONSUL_HTTP_ADDR")
	if addr == "" {
		t.Skip("CONSUL_HTTP_ADDR not set: no real Consul agent to test against")
	}
	registrytest.Run(t, harness(Config{Address: addr},
		discovery.Check{TTL: 2 * time.Second, DeregisterAfter: time.Minute}, 30*time.Second))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ids(in []discovery.Instance) []string {
	out := []string{}
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}

func waitFor(t *testing.T, ch <-chan discovery.Update, want ...string) discovery.Update {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	timeout := time.After(10 * time.Second)
	var last discovery.Update
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed while waiting for %v", want)
			}
			last = u
			if u.Err == nil && slices.Equal(ids(u.Instances), want) {
				return u
			}
		case <-timeout:
			t.Fatalf("no update with %v (last %v, err %v)", want, ids(last.Instances), last.Err)
		}
	}
}

func inst(id string, port int) discovery.Instance {
	return discovery.Instance{Service: "api", ID: id, Address: "127.0.0.1", Port: port, Version: "1.2.3",
		Check: discovery.Check{TTL: time.Second}}
}

// TestHTTPCheck registers an instance with an HTTP check the agent runs:
// it follows the endpoint's answers, and SetStatus overrides it through
// maintenance mode.
func TestHTTPCheck(t *testing.T) {
	srv := consultest.Start(t)
	r := openAt(t, Config{Address: srv.Addr})
	var healthy atomic.Bool
	healthy.Store(true)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer app.Close()
	ctx := ctxT(t)
	i := inst("h1", 8080)
	i.Check = discovery.Check{HTTP: app.URL + "/health", Interval: 50 * time.Millisecond}
	if err := r.Register(ctx, i); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "h1")
	healthy.Store(false)
	waitFor(t, ch)
	healthy.Store(true)
	waitFor(t, ch, "h1")
	if err := r.SetStatus(ctx, "h1", discovery.StatusUnhealthy); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch)
	if got := srv.CheckStatus("_service_maintenance:h1"); got != "critical" {
		t.Fatalf("maintenance check status %q, want critical", got)
	}
	if err := r.SetStatus(ctx, "h1", discovery.StatusHealthy); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "h1")
}

// TestIndexGoesBackwards makes the server's index drop below the one the
// watch blocks on, as after a snapshot restore: the blocking query returns
// at its wait time with a lower index, and the watch must start over with
// a non-blocking read (index 0) as Consul's documentation requires, then
// follow the new index.
func TestIndexGoesBackwards(t *testing.T) {
	srv := consultest.Start(t)
	r := openAt(t, Config{Address: srv.Addr, WaitTime: discovery.Duration(300 * time.Millisecond)})
	ctx := ctxT(t)
	for _, id := range []string{"a", "b", "c", "d"} { // raise the index
		if err := r.Register(ctx, inst(id, 9000)); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "a", "b", "c", "d")
	srv.ResetIndex()
	if err := r.Deregister(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "b", "c", "d")
	if err := r.Register(ctx, inst("e", 9000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "b", "c", "d", "e")
	qs := srv.QueryIndexes()
	for i := 1; i+1 < len(qs); i++ {
		if qs[i] > 4 && qs[i+1] == 0 {
			return // blocked on the old, high index, then started over
		}
	}
	t.Fatalf("query indexes %v: no non-blocking restart after the index went backwards", qs)
}

// TestRateLimitedAndUnchangedReturnsTolerated makes every blocking query
// return at once without change: the watch keeps to its rate limit and
// sends no update for them.
func TestRateLimitedAndUnchangedReturnsTolerated(t *testing.T) {
	srv := consultest.Start(t)
	r := openAt(t, Config{Address: srv.Addr, MinQueryInterval: discovery.Duration(200 * time.Millisecond)})
	ctx := ctxT(t)
	if err := r.Register(ctx, inst("a", 9000)); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "a")
	srv.SetNoBlock(true)
	before := srv.HealthQueries()
	window := time.Second
	select {
	case u := <-ch:
		t.Fatalf("update without any change: %v (err %v)", ids(u.Instances), u.Err)
	case <-time.After(window):
	}
	n := srv.HealthQueries() - before
	if limit := int64(window/(200*time.Millisecond)) + 2; n > limit || n < 2 {
		t.Fatalf("%d queries in %v with a 200ms minimum interval, want 2..%d", n, window, limit)
	}
}

func TestACLToken(t *testing.T) {
	srv := consultest.Start(t, consultest.WithToken("s3cret"))
	ctx := ctxT(t)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	anon := openAt(t, Config{Address: srv.Addr})
	if err := anon.Register(ctx, inst("a", 9000)); !errors.Is(err, discovery.ErrPermissionDenied) {
		t.Fatalf("Register without token = %v, want ErrPermissionDenied", err)
	}
	if err := anon.Health(ctx); !errors.Is(err, discovery.ErrPermissionDenied) {
		t.Fatalf("Health without token = %v, want ErrPermissionDenied", err)
	}
	r := openAt(t, Config{Address: srv.Addr, Token: "s3cret"})
	if err := r.Register(ctx, inst("a", 9000)); err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(ctx, "api", discovery.Filter{})
	if err != nil || !slices.Equal(ids(got), []string{"a"}) {
		t.Fatalf("Resolve with token = %v, %v", ids(got), err)
	}
	if got[0].Version != "1.2.3" || got[0].Metadata != nil {
		t.Fatalf("version travels in meta and is not repeated in metadata: %+v", got[0])
	}
}

func TestDatacenter(t *testing.T) {
	srv := consultest.Start(t, consultest.WithDatacenter("eu-1"))
	ctx := ctxT(t)
	owner := openAt(t, Config{Address: srv.Addr})
	if err := owner.Register(ctx, inst("a", 9000)); err != nil {
		t.Fatal(err)
	}
	eu := openAt(t, Config{Address: srv.Addr, Datacenter: "eu-1"})
	if got, err := eu.Resolve(ctx, "api", discovery.Filter{}); err != nil || len(got) != 1 {
		t.Fatalf("Resolve in eu-1 = %v, %v", ids(got), err)
	}
	us := openAt(t, Config{Address: srv.Addr, Datacenter: "us-1"})
	if _, err := us.Resolve(ctx, "api", discovery.Filter{}); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Resolve in an unknown datacenter = %v, want ErrUnavailable", err)
	}
}

// TestWatchReportsFailure makes the agent fail: the watch keeps its last
// set flagged with ErrUnavailable, and recovers when the agent does.
func TestWatchReportsFailure(t *testing.T) {
	srv := consultest.Start(t)
	r := openAt(t, Config{Address: srv.Addr})
	ctx := ctxT(t)
	if err := r.Register(ctx, inst("a", 9000)); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "a")
	srv.SetFailing(true)
	u := <-ch
	if !errors.Is(u.Err, discovery.ErrUnavailable) || !slices.Equal(ids(u.Instances), []string{"a"}) {
		t.Fatalf("update while failing = %v (err %v), want [a] with ErrUnavailable", ids(u.Instances), u.Err)
	}
	if err := r.Health(ctx); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Health = %v", err)
	}
	srv.SetFailing(false)
	waitFor(t, ch, "a")
}

// TestAgentLostRegistration removes the service behind the registry's
// back (an agent restarted without state): the heartbeat finds its check
// gone and registers again.
func TestAgentLostRegistration(t *testing.T) {
	srv := consultest.Start(t)
	r := openAt(t, Config{Address: srv.Addr})
	ctx := ctxT(t)
	if err := r.Register(ctx, inst("a", 9000)); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "a")
	if err := r.Client().Agent().ServiceDeregister("a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch)
	waitFor(t, ch, "a")
}

// TestCrashedInstanceIsReaped proves DeregisterCriticalServiceAfter is set:
// after a crash the TTL check goes critical and the agent removes the
// service.
func TestCrashedInstanceIsReaped(t *testing.T) {
	srv := consultest.Start(t)
	r := openAt(t, Config{Address: srv.Addr})
	i := inst("a", 9000)
	i.Check.DeregisterAfter = 500 * time.Millisecond
	if err := r.Register(ctxT(t), i); err != nil {
		t.Fatal(err)
	}
	r.crash()
	deadline := time.Now().Add(10 * time.Second)
	for srv.HasService("a") {
		if time.Now().After(deadline) {
			t.Fatalf("service still registered; check status %q", srv.CheckStatus("service:a"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTLS(t *testing.T) {
	srv := consultest.Start(t, consultest.WithTLS())
	ctx := ctxT(t)
	r := openAt(t, Config{Address: srv.Addr, TLS: &TLSConfig{CAFile: srv.CAFile}})
	if err := r.Register(ctx, inst("a", 9000)); err != nil {
		t.Fatalf("Register over HTTPS: %v", err)
	}
	if got, err := r.Resolve(ctx, "api", discovery.Filter{}); err != nil || len(got) != 1 {
		t.Fatalf("Resolve over HTTPS = %v, %v", ids(got), err)
	}
	untrusting := openAt(t, Config{Address: srv.Addr, Scheme: "https"})
	if err := untrusting.Health(ctx); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Health without the CA = %v, want ErrUnavailable", err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]any
		ok   bool
	}{
		{"empty", map[string]any{}, true},
		{"full", map[string]any{"address": "127.0.0.1:8500", "scheme": "https", "token": "t", "datacenter": "dc1",
			"ttl": "5s", "deregister_critical_after": "2m", "wait_time": "30s", "min_query_interval": "1s"}, true},
		{"unknown key", map[string]any{"adress": "x"}, false},
		{"bad scheme", map[string]any{"scheme": "ftp"}, false},
		{"short ttl", map[string]any{"ttl": "10ms"}, false},
		{"tls", map[string]any{"tls": map[string]any{"server_name": "consul"}}, true},
		{"tls cert without key", map[string]any{"tls": map[string]any{"cert_file": "c.pem"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "consul", Options: tt.opts})
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
