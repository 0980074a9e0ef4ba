package multi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/etcd"
	"github.com/wasmesh/wasmesh/discovery/registrytest"
	"github.com/wasmesh/wasmesh/discovery/static"
	"github.com/wasmesh/wasmesh/meshtest/etcdtest"
)

func uniquePrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "multi-" + hex.EncodeToString(b[:])
}

func openEtcd(t *testing.T, srv *etcdtest.Server, prefix string) *etcd.Registry {
	t.Helper()
	r, err := etcd.New(etcd.Config{Endpoints: srv.Endpoints(), Prefix: prefix,
		HealthInterval: discovery.Duration(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func openStatic(t *testing.T, insts ...static.InstanceConfig) *static.Registry {
	t.Helper()
	r, err := static.New(static.Config{Instances: insts})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	prefix := uniquePrefix()
	registrytest.Run(t, registrytest.Harness{
		Features: registrytest.Features{Register: true, Dynamic: true},
		New: func(t *testing.T, _ []discovery.Instance) discovery.Registry {
			r, err := New([]Member{
				{Name: "etcd", Registry: openEtcd(t, srv, prefix)},
				{Name: "static", Registry: openStatic(t)},
			}, WithMetrics(NewMetrics("wasmesh")))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return r
		},
	})
}

func ids(in []discovery.Instance) []string {
	out := []string{}
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}

func TestDeduplicatesByAddress(t *testing.T) {
	a := openStatic(t,
		static.InstanceConfig{Service: "api", ID: "a1", Address: "10.0.0.1", Port: 80},
		static.InstanceConfig{Service: "api", ID: "a2", Address: "10.0.0.2", Port: 80})
	b := openStatic(t,
		static.InstanceConfig{Service: "api", ID: "pod-x", Address: "10.0.0.2", Port: 80},
		static.InstanceConfig{Service: "api", ID: "pod-y", Address: "10.0.0.3", Port: 80})
	r, err := New([]Member{{Name: "consul", Registry: a}, {Name: "k8s", Registry: b}}, WithMetrics(NewMetrics("wasmesh")))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := r.Resolve(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1", "a2", "pod-y"}; !slices.Equal(ids(got), want) {
		t.Fatalf("Resolve = %v, want %v (10.0.0.2 once, first backend wins)", ids(got), want)
	}
	if got[1].Source != "consul,k8s" || got[0].Source != "consul" || got[2].Source != "k8s" {
		t.Fatalf("sources = %q %q %q", got[0].Source, got[1].Source, got[2].Source)
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	u := <-ch
	if u.Err != nil || !slices.Equal(ids(u.Instances), []string{"a1", "a2", "pod-y"}) {
		t.Fatalf("first watched set = %v (err %v)", ids(u.Instances), u.Err)
	}
}

// TestFailingBackendIsolated stops etcd under a watch that merges etcd and
// a static list: etcd's instances are kept (flagged stale) for
// KeepStaleFor, then dropped while the static ones stay; Health, Status
// and the metrics show the failure; when etcd returns, so do its
// instances.
func TestFailingBackendIsolated(t *testing.T) {
	srv := etcdtest.Start(t)
	prefix := uniquePrefix()
	owner := openEtcd(t, srv, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := owner.Register(ctx, discovery.Instance{Service: "api", ID: "e1", Address: "10.0.1.1", Port: 80}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics("wasmesh")
	r, err := New([]Member{
		{Name: "etcd", Registry: openEtcd(t, srv, prefix)},
		{Name: "static", Registry: openStatic(t, static.InstanceConfig{Service: "api", ID: "s1", Address: "10.0.2.1", Port: 80})},
	}, WithMetrics(m), WithKeepStaleFor(1500*time.Millisecond), WithHealthInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}

	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	next := func(pred func(discovery.Update) bool, what string) discovery.Update {
		t.Helper()
		for {
			select {
			case u := <-ch:
				if pred(u) {
					return u
				}
			case <-ctx.Done():
				t.Fatalf("no update where %s", what)
			}
		}
	}
	next(func(u discovery.Update) bool {
		return u.Err == nil && slices.Equal(ids(u.Instances), []string{"e1", "s1"})
	}, "both backends answer")
	if got, err := r.Resolve(ctx, "api", discovery.Filter{}); err != nil || !slices.Equal(ids(got), []string{"e1", "s1"}) {
		t.Fatalf("Resolve = %v, %v", ids(got), err)
	}

	srv.Stop(t)
	u := next(func(u discovery.Update) bool { return u.Err != nil }, "etcd is reported failing")
	if !errors.Is(u.Err, discovery.ErrUnavailable) || !slices.Equal(ids(u.Instances), []string{"e1", "s1"}) {
		t.Fatalf("failing update = %v (err %v), want e1 kept stale and s1", ids(u.Instances), u.Err)
	}
	if got, err := r.Resolve(ctx, "api", discovery.Filter{}); err != nil || !slices.Equal(ids(got), []string{"e1", "s1"}) {
		t.Fatalf("Resolve while etcd fails = %v, %v; want e1 kept and s1", ids(got), err)
	}
	next(func(u discovery.Update) bool {
		return u.Err != nil && slices.Equal(ids(u.Instances), []string{"s1"})
	}, "etcd's stale instances are dropped after KeepStaleFor")
	if err := r.Health(ctx); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Health = %v, want ErrUnavailable", err)
	}
	st := r.Status()
	if st[0].Name != "etcd" || st[0].Err == nil || st[1].Err != nil {
		t.Fatalf("Status = %+v, want etcd failing and static fine", st)
	}
	if v := testutil.ToFloat64(m.up.WithLabelValues("etcd")); v != 0 {
		t.Fatalf("registry_up{etcd} = %v, want 0", v)
	}
	if v := testutil.ToFloat64(m.failures.WithLabelValues("etcd")); v < 1 {
		t.Fatalf("registry_failures_total{etcd} = %v, want >= 1", v)
	}
	if v := testutil.ToFloat64(m.up.WithLabelValues("static")); v != 1 {
		t.Fatalf("registry_up{static} = %v, want 1", v)
	}
	time.Sleep(1600 * time.Millisecond) // past KeepStaleFor: Resolve no longer serves e1
	if got, err := r.Resolve(ctx, "api", discovery.Filter{}); err != nil || !slices.Equal(ids(got), []string{"s1"}) {
		t.Fatalf("Resolve after KeepStaleFor = %v, %v; want s1 only", ids(got), err)
	}

	srv.Restart(t)
	next(func(u discovery.Update) bool {
		return u.Err == nil && slices.Equal(ids(u.Instances), []string{"e1", "s1"})
	}, "etcd's instances are back")
	if err := r.Health(ctx); err != nil {
		t.Fatalf("Health after restart = %v", err)
	}
	if v := testutil.ToFloat64(m.up.WithLabelValues("etcd")); v != 1 {
		t.Fatalf("registry_up{etcd} = %v after recovery, want 1", v)
	}
	if n, err := testutil.GatherAndCount(reg, "wasmesh_discovery_instances"); err != nil || n != 2 {
		t.Fatalf("wasmesh_discovery_instances series = %d, %v; want 2", n, err)
	}
}

func TestRegisterGoesToBackendsThatAcceptIt(t *testing.T) {
	r, err := New([]Member{{Name: "a", Registry: openStatic(t)}, {Name: "b", Registry: openStatic(t)}}, WithMetrics(NewMetrics("wasmesh")))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Register(context.Background(), discovery.Instance{Service: "api", ID: "x", Address: "h", Port: 1})
	if !errors.Is(err, discovery.ErrUnsupported) {
		t.Fatalf("Register with no accepting backend = %v, want ErrUnsupported", err)
	}
}

func TestBorrowedMembersStayOpen(t *testing.T) {
	shared := openStatic(t, static.InstanceConfig{Service: "api", ID: "a", Address: "10.0.0.1", Port: 80})
	r, err := New([]Member{{Name: "s", Registry: shared}}, WithBorrowedMembers(), WithMetrics(NewMetrics("wasmesh")))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Resolve(context.Background(), "api", discovery.Filter{}); err != nil {
		t.Fatalf("borrowed member closed by multi: %v", err)
	}
	owned := openStatic(t)
	r, err = New([]Member{{Name: "s", Registry: owned}}, WithMetrics(NewMetrics("wasmesh")))
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	if _, err := owned.Resolve(context.Background(), "api", discovery.Filter{}); !errors.Is(err, discovery.ErrClosed) {
		t.Fatalf("owned member after Close: %v, want ErrClosed", err)
	}
}

func TestConfig(t *testing.T) {
	st := func(id string) map[string]any {
		return map[string]any{"instances": []any{map[string]any{"service": "api", "id": id, "address": "10.0.0." + id, "port": 80}}}
	}
	tests := []struct {
		name string
		opts map[string]any
		want error
	}{
		{"two statics", map[string]any{"keep_stale_for": "10s", "backends": []any{
			map[string]any{"name": "one", "backend": "static", "options": st("1")},
			map[string]any{"name": "two", "backend": "static", "options": st("2")},
		}}, nil},
		{"no backends", map[string]any{}, discovery.ErrInvalid},
		{"unknown key", map[string]any{"backend": []any{}}, discovery.ErrInvalid},
		{"same name twice", map[string]any{"backends": []any{
			map[string]any{"backend": "static", "options": st("1")},
			map[string]any{"backend": "static", "options": st("2")},
		}}, discovery.ErrInvalid},
		{"nested multi", map[string]any{"backends": []any{map[string]any{"backend": "multi"}}}, discovery.ErrInvalid},
		{"bad member", map[string]any{"backends": []any{map[string]any{"backend": "static", "options": map[string]any{"x": 1}}}}, discovery.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "multi", Options: tt.opts})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				got, err := r.Resolve(context.Background(), "api", discovery.Filter{})
				if err != nil || !slices.Equal(ids(got), []string{"1", "2"}) {
					t.Fatalf("Resolve = %v, %v", ids(got), err)
				}
				if got[0].Source != "one" {
					t.Fatalf("source %q, want the member name", got[0].Source)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
