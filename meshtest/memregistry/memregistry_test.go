package memregistry_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/registrytest"
	"github.com/wasmesh/wasmesh/meshtest/memregistry"
)

func TestConformance(t *testing.T) {
	b := memregistry.Start(t)
	registrytest.Run(t, registrytest.Harness{
		Features: registrytest.Features{Register: true, Dynamic: true, Expiry: true},
		New:      func(*testing.T, []discovery.Instance) discovery.Registry { return b.Registry() },
		Crash:    func(_ *testing.T, r discovery.Registry) { r.(*memregistry.Registry).Crash() },
		Check:    discovery.Check{TTL: 200 * time.Millisecond},
		Wait:     5 * time.Second, ExpiryWait: 5 * time.Second,
	})
}

// TestConformanceThroughOpen runs the suite on registries built the way
// meshd builds them: discovery.Open with backend "memory".
func TestConformanceThroughOpen(t *testing.T) {
	b := memregistry.Start(t)
	registrytest.Run(t, registrytest.Harness{
		Features: registrytest.Features{Register: true, Dynamic: true},
		New: func(t *testing.T, _ []discovery.Instance) discovery.Registry {
			r, err := discovery.Open(context.Background(), discovery.BackendConfig{
				Backend: memregistry.BackendName, Options: map[string]any{"name": b.Name()},
			})
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	})
}

func TestOpenRejectsUnknownNameAndOptions(t *testing.T) {
	for name, opts := range map[string]map[string]any{
		"unknown backend": {"name": "nobody"},
		"unknown option":  {"name": "x", "nmae": "y"},
	} {
		_, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: memregistry.BackendName, Options: opts})
		if !errors.Is(err, discovery.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func inst(service, id string, port int) discovery.Instance {
	return discovery.Instance{Service: service, ID: id, Address: "127.0.0.1", Port: port}
}

func next(t *testing.T, ch <-chan discovery.Update) discovery.Update {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	return discovery.Update{}
}

func ids(in []discovery.Instance) []string {
	out := []string{}
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}

func TestFailNext(t *testing.T) {
	ctx := context.Background()
	b := memregistry.Start(t)
	r := b.Registry()
	defer r.Close()
	perm := errors.New("denied")
	tests := []struct {
		name    string
		ops     memregistry.Op
		n       int
		err     error
		call    func() error
		fails   int
		wantErr error
	}{
		{"any op, default error", memregistry.AnyOp, 2, nil, func() error { return r.Health(ctx) }, 2, discovery.ErrUnavailable},
		{"register only", memregistry.OpRegister, 1, perm, func() error { return r.Register(ctx, inst("s", "a", 1)) }, 1, perm},
		{"other ops untouched", memregistry.OpRegister, 3, nil, func() error { _, err := r.Resolve(ctx, "s", discovery.Filter{}); return err }, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.FailNext(tt.ops, tt.n, tt.err)
			defer b.FailNext(0, 0, nil)
			for i := range tt.fails + 2 {
				err := tt.call()
				if i < tt.fails {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("call %d: err = %v, want %v", i, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("call %d after %d failures: %v", i, tt.fails, err)
				}
			}
		})
	}
}

func TestSetDownSendsErrThenRecovers(t *testing.T) {
	ctx := context.Background()
	b := memregistry.Start(t)
	r := b.Registry()
	defer r.Close()
	if err := r.Register(ctx, inst("api", "a", 1)); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, ch); u.Err != nil || !slices.Equal(ids(u.Instances), []string{"a"}) {
		t.Fatalf("first update %+v", u)
	}
	b.SetDown(errors.New("partition"))
	u := next(t, ch)
	if !errors.Is(u.Err, discovery.ErrUnavailable) || !slices.Equal(ids(u.Instances), []string{"a"}) {
		t.Fatalf("update while down = %+v, want Err wrapping ErrUnavailable and the last set", u)
	}
	if err := r.Health(ctx); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Health while down = %v", err)
	}
	if _, err := r.Resolve(ctx, "api", discovery.Filter{}); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Resolve while down = %v", err)
	}
	// A change made by the platform while down shows on recovery.
	if err := b.Add(inst("api", "b", 2)); err != nil {
		t.Fatal(err)
	}
	b.SetDown(nil)
	for {
		u = next(t, ch)
		if u.Err == nil {
			break
		}
	}
	if !slices.Equal(ids(u.Instances), []string{"a", "b"}) {
		t.Fatalf("update after recovery = %v", ids(u.Instances))
	}
	if err := r.Health(ctx); err != nil {
		t.Fatalf("Health after recovery = %v", err)
	}
}

func TestDropWatches(t *testing.T) {
	ctx := context.Background()
	b := memregistry.Start(t)
	r := b.Registry()
	defer r.Close()
	dropped, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := r.Watch(ctx, "db", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	next(t, dropped)
	next(t, kept)
	if n := b.DropWatches("api"); n != 1 {
		t.Fatalf("DropWatches = %d, want 1", n)
	}
	select {
	case _, ok := <-dropped:
		if ok {
			t.Fatal("dropped watch delivered instead of closing")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dropped watch still open")
	}
	if err := b.Add(inst("db", "d", 5432)); err != nil {
		t.Fatal(err)
	}
	if u := next(t, kept); !slices.Equal(ids(u.Instances), []string{"d"}) {
		t.Fatalf("other watch got %v", ids(u.Instances))
	}
	if n := b.Watchers(""); n != 1 {
		t.Fatalf("Watchers = %d, want 1", n)
	}
}

func TestDelayUpdates(t *testing.T) {
	ctx := context.Background()
	b := memregistry.Start(t)
	r := b.Registry()
	defer r.Close()
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	const delay = 300 * time.Millisecond
	b.DelayUpdates(delay)
	start := time.Now()
	if err := r.Register(ctx, inst("api", "a", 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Resolve(ctx, "api", discovery.Filter{}); len(got) != 1 {
		t.Fatalf("Resolve does not see the change at once: %v", ids(got))
	}
	u := next(t, ch)
	if waited := time.Since(start); waited < delay {
		t.Fatalf("update arrived after %v, before the %v delay", waited, delay)
	}
	if !slices.Equal(ids(u.Instances), []string{"a"}) {
		t.Fatalf("delayed update = %v", ids(u.Instances))
	}
}

func TestCrashWithoutTTLKeepsInstance(t *testing.T) {
	ctx := context.Background()
	b := memregistry.Start(t)
	owner, other := b.Registry(), b.Registry()
	defer other.Close()
	if err := owner.Register(ctx, inst("api", "a", 1)); err != nil {
		t.Fatal(err)
	}
	owner.Crash()
	if err := owner.Register(ctx, inst("api", "b", 2)); !errors.Is(err, discovery.ErrClosed) {
		t.Fatalf("Register after Crash = %v, want ErrClosed", err)
	}
	got, err := other.Resolve(ctx, "api", discovery.Filter{})
	if err != nil || !slices.Equal(ids(got), []string{"a"}) {
		t.Fatalf("Resolve after crash = %v, %v; an instance without TTL must stay", ids(got), err)
	}
}

func TestClosedBackend(t *testing.T) {
	b := memregistry.New()
	r := b.Registry()
	ch, err := r.Watch(context.Background(), "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch)
	b.Close()
	for range ch {
	}
	if err := r.Health(context.Background()); !errors.Is(err, discovery.ErrClosed) {
		t.Fatalf("Health on a closed backend = %v", err)
	}
}
