package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

// Features says what a backend can do; the suite skips what does not apply.
type Features struct {
	// Register means Register, Deregister and SetStatus work. Without it
	// they must fail with discovery.ErrUnsupported.
	Register bool
	// Dynamic means the instance set can change after the registry was
	// built (false for a static list, which gets its instances as seed).
	Dynamic bool
	// Expiry means a registration whose owner died (Harness.Crash) goes
	// away on its own.
	Expiry bool
}

// Source changes what a backend sees without going through the Registry
// API: it plays the platform for backends where registration is done by
// someone else (Kubernetes creates EndpointSlices).
type Source interface {
	// Add makes inst exist (or replaces the instance with its ID).
	Add(ctx context.Context, inst discovery.Instance) error
	// Remove makes the instance go away.
	Remove(ctx context.Context, service, id string) error
	// SetHealthy flips the instance between serving and not serving.
	SetHealthy(ctx context.Context, service, id string, healthy bool) error
}

// Harness tells the suite how to drive one backend.
type Harness struct {
	Features Features
	// New opens a registry on the backend under test; the suite closes it
	// (the harness may also close it at t.Cleanup). Every call must reach
	// the same backend state, so that a second registry sees what the
	// first registered; the suite isolates tests by unique service names.
	// seed is set only for backends that are not Dynamic: it is the whole
	// instance set (the static list).
	New func(t *testing.T, seed []discovery.Instance) discovery.Registry
	// NewSource returns the Source feeding reg, for Dynamic backends
	// without Register.
	NewSource func(t *testing.T, reg discovery.Registry) Source
	// Crash stops reg as if its process died: no deregistration, no more
	// heartbeats. Needed with Features.Expiry.
	Crash func(t *testing.T, reg discovery.Registry)
	// Check is copied into every instance the suite registers (a TTL short
	// enough for the expiry test, for example).
	Check discovery.Check
	// Wait bounds how long the suite waits for a change to show;
	// ExpiryWait bounds the wait for an orphaned instance to expire.
	// Defaults: 10s and 30s.
	Wait, ExpiryWait time.Duration
}

func (h Harness) wait() time.Duration {
	if h.Wait > 0 {
		return h.Wait
	}
	return 10 * time.Second
}

func (h Harness) expiryWait() time.Duration {
	if h.ExpiryWait > 0 {
		return h.ExpiryWait
	}
	return 30 * time.Second
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("registrytest: Harness.New is required")
	}
	if h.Features.Dynamic && !h.Features.Register && h.NewSource == nil {
		t.Fatal("registrytest: a dynamic backend without Register needs Harness.NewSource")
	}
	if h.Features.Expiry && h.Crash == nil {
		t.Fatal("registrytest: Features.Expiry needs Harness.Crash")
	}
	tests := []struct {
		name string
		run  func(*testing.T, Harness)
		need func(Features) bool
	}{
		{"Health", testHealth, nil},
		{"ResolveUnknownServiceIsEmpty", testResolveUnknown, nil},
		{"ResolveReturnsInstances", testResolve, nil},
		{"FilterByTags", testFilterTags, nil},
		{"FilterByMetadata", testFilterMetadata, nil},
		{"WatchStartsWithCurrentSet", testWatchInitial, nil},
		{"WatchEndsWithContext", testWatchCancel, nil},
		{"WatchSeesAddAndRemove", testWatchAddRemove, func(f Features) bool { return f.Dynamic }},
		{"WatchSeesHealthChange", testWatchHealth, func(f Features) bool { return f.Dynamic }},
		{"WatchAppliesFilter", testWatchFilter, func(f Features) bool { return f.Dynamic }},
		{"WatchSetsAreComplete", testWatchComplete, func(f Features) bool { return f.Dynamic }},
		{"Deregister", testDeregister, func(f Features) bool { return f.Register }},
		{"UnknownIDIsNotFound", testNotFound, func(f Features) bool { return f.Register }},
		{"CloseDeregisters", testCloseDeregisters, func(f Features) bool { return f.Register }},
		{"InstanceExpires", testExpiry, func(f Features) bool { return f.Expiry }},
		{"RegisterUnsupported", testUnsupported, func(f Features) bool { return !f.Register }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.need != nil && !tc.need(h.Features) {
				t.Skipf("backend lacks the feature this test needs (%+v)", h.Features)
			}
			tc.run(t, h)
		})
	}
}

// env is one test's view: the registry, a way to change instances, and a
// unique service name.
type env struct {
	t       *testing.T
	h       Harness
	reg     discovery.Registry
	src     Source
	service string
}

func newEnv(t *testing.T, h Harness, seed ...discovery.Instance) *env {
	t.Helper()
	e := &env{t: t, h: h, service: uniqueService(t)}
	for i := range seed {
		seed[i].Service = e.service
	}
	if h.Features.Dynamic {
		e.reg = h.New(t, nil)
	} else {
		e.reg = h.New(t, seed)
	}
	t.Cleanup(func() { _ = e.reg.Close() })
	switch {
	case h.Features.Register:
		e.src = registrySource{e.reg}
	case h.NewSource != nil:
		e.src = h.NewSource(t, e.reg)
	}
	if h.Features.Dynamic {
		for _, inst := range seed {
			e.add(inst)
		}
	}
	return e
}

func uniqueService(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.ToLower(t.Name())
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if len(name) > 30 {
		name = name[:30]
	}
	return "rt-" + name + "-" + hex.EncodeToString(b[:])
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), e.h.wait())
	e.t.Cleanup(cancel)
	return ctx
}

func (e *env) inst(id string, port int) discovery.Instance {
	return discovery.Instance{
		Service: e.service, ID: id, Address: "127.0.0.1", Port: port, Version: "1.0.0",
		Tags: []string{"v1"}, Metadata: map[string]string{"zone": "a"}, Check: e.h.Check,
	}
}

func (e *env) add(inst discovery.Instance) {
	e.t.Helper()
	inst.Service = e.service
	if e.h.Features.Register {
		inst.Check = e.h.Check
	}
	if err := e.src.Add(e.ctx(), inst); err != nil {
		e.t.Fatalf("add %s: %v", inst.ID, err)
	}
}

func (e *env) remove(id string) {
	e.t.Helper()
	if err := e.src.Remove(e.ctx(), e.service, id); err != nil {
		e.t.Fatalf("remove %s: %v", id, err)
	}
}

func (e *env) setHealthy(id string, healthy bool) {
	e.t.Helper()
	if err := e.src.SetHealthy(e.ctx(), e.service, id, healthy); err != nil {
		e.t.Fatalf("set %s healthy=%v: %v", id, healthy, err)
	}
}

func (e *env) resolve(f discovery.Filter) []discovery.Instance {
	e.t.Helper()
	got, err := e.reg.Resolve(e.ctx(), e.service, f)
	if err != nil {
		e.t.Fatalf("Resolve(%s): %v", e.service, err)
	}
	return got
}

// eventuallyResolves polls Resolve until it returns the wanted ids: a
// backend may answer from a cache that trails a write by a moment.
func (e *env) eventuallyResolves(f discovery.Filter, want ...string) []discovery.Instance {
	e.t.Helper()
	deadline := time.Now().Add(e.h.wait())
	var got []discovery.Instance
	for {
		got = e.resolve(f)
		if slices.Equal(ids(got), sorted(want)) {
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("Resolve(%s, %+v) = %v, want ids %v", e.service, f, ids(got), sorted(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) watch(f discovery.Filter) *watcher {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	ch, err := e.reg.Watch(ctx, e.service, f)
	if err != nil {
		e.t.Fatalf("Watch(%s): %v", e.service, err)
	}
	return &watcher{e: e, ch: ch, cancel: cancel}
}

type watcher struct {
	e      *env
	ch     <-chan discovery.Update
	cancel context.CancelFunc
	seen   [][]discovery.Instance
}

// until reads updates until one holds exactly the wanted ids (and no
// error); every update read must be a complete, well-formed set.
func (w *watcher) until(wait time.Duration, want ...string) []discovery.Instance {
	w.e.t.Helper()
	want = sorted(want)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var last []string
	for {
		select {
		case u, ok := <-w.ch:
			if !ok {
				w.e.t.Fatalf("watch of %s closed while waiting for %v (last %v)", w.e.service, want, last)
			}
			w.checkWellFormed(u)
			w.seen = append(w.seen, u.Instances)
			last = ids(u.Instances)
			if u.Err == nil && slices.Equal(last, want) {
				return u.Instances
			}
		case <-timer.C:
			w.e.t.Fatalf("watch of %s: no update with ids %v within %v (last %v)", w.e.service, want, wait, last)
		}
	}
}

func (w *watcher) checkWellFormed(u discovery.Update) {
	w.e.t.Helper()
	if !slices.IsSortedFunc(u.Instances, func(a, b discovery.Instance) int { return strings.Compare(a.ID, b.ID) }) {
		w.e.t.Fatalf("update not sorted by id: %v", ids(u.Instances))
	}
	for _, inst := range u.Instances {
		if inst.Service != w.e.service || inst.ID == "" || inst.Address == "" || inst.Port == 0 {
			w.e.t.Fatalf("update holds an incomplete instance: %+v", inst)
		}
	}
}

func ids(in []discovery.Instance) []string {
	out := make([]string, 0, len(in))
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

// registrySource drives a backend through its own Registry API.
type registrySource struct{ reg discovery.Registry }

func (s registrySource) Add(ctx context.Context, inst discovery.Instance) error {
	return s.reg.Register(ctx, inst)
}

func (s registrySource) Remove(ctx context.Context, _, id string) error {
	return s.reg.Deregister(ctx, id)
}

func (s registrySource) SetHealthy(ctx context.Context, _, id string, healthy bool) error {
	st := discovery.StatusHealthy
	if !healthy {
		st = discovery.StatusUnhealthy
	}
	return s.reg.SetStatus(ctx, id, st)
}

func describe(in []discovery.Instance) string {
	var b strings.Builder
	for _, i := range in {
		fmt.Fprintf(&b, "%s@%s v%s %v %v; ", i.ID, i.HostPort(), i.Version, i.Tags, i.Metadata)
	}
	return b.String()
}
