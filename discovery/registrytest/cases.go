package registrytest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

func testHealth(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if err := e.reg.Health(e.ctx()); err != nil {
		t.Fatalf("Health of a reachable backend = %v", err)
	}
}

func testResolveUnknown(t *testing.T, h Harness) {
	e := newEnv(t, h)
	got, err := e.reg.Resolve(e.ctx(), e.service+"-nobody", discovery.Filter{})
	if err != nil {
		t.Fatalf("Resolve of an unknown service: %v, want an empty set", err)
	}
	if len(got) != 0 {
		t.Fatalf("Resolve of an unknown service = %s", describe(got))
	}
}

func testResolve(t *testing.T, h Harness) {
	tmp := newEnvTemplate(t)
	a := tmp.inst("a", 8081)
	a.Version, a.Tags, a.Metadata = "2.1.0", []string{"v2", "canary"}, map[string]string{"zone": "eu-1", "rack": "7"}
	b := tmp.inst("b", 8082)
	e := newEnv(t, h, a, b)
	got := e.eventuallyResolves(discovery.Filter{}, "a", "b")
	ga := got[0]
	if ga.Address != "127.0.0.1" || ga.Port != 8081 || ga.Version != "2.1.0" ||
		!slices.Equal(sorted(ga.Tags), []string{"canary", "v2"}) ||
		ga.Metadata["zone"] != "eu-1" || ga.Metadata["rack"] != "7" {
		t.Fatalf("instance a came back altered: %s", describe(got[:1]))
	}
	if ga.Source == "" {
		t.Fatalf("Resolve did not say which backend the instance came from: %+v", ga)
	}
	if got[1].Port != 8082 {
		t.Fatalf("instance b has port %d, want 8082", got[1].Port)
	}
}

// newEnvTemplate gives instance defaults before the env exists (the seed
// of a static backend must be known when it is built).
func newEnvTemplate(t *testing.T) *env {
	return &env{t: t, h: Harness{}, service: "template"}
}

func filterSeed(t *testing.T) []discovery.Instance {
	tmp := newEnvTemplate(t)
	a := tmp.inst("a", 9001)
	a.Tags, a.Metadata = []string{"v1"}, map[string]string{"zone": "eu-1"}
	b := tmp.inst("b", 9002)
	b.Tags, b.Metadata = []string{"v2"}, map[string]string{"zone": "eu-1"}
	c := tmp.inst("c", 9003)
	c.Tags, c.Metadata = []string{"v2", "canary"}, map[string]string{"zone": "us-1"}
	return []discovery.Instance{a, b, c}
}

func testFilterTags(t *testing.T, h Harness) {
	e := newEnv(t, h, filterSeed(t)...)
	e.eventuallyResolves(discovery.Filter{}, "a", "b", "c")
	tests := []struct {
		tags []string
		want []string
	}{
		{[]string{"v1"}, []string{"a"}},
		{[]string{"v2"}, []string{"b", "c"}},
		{[]string{"v2", "canary"}, []string{"c"}},
		{[]string{"v3"}, nil},
	}
	for _, tt := range tests {
		got := e.resolve(discovery.Filter{Tags: tt.tags})
		if !slices.Equal(ids(got), sorted(tt.want)) {
			t.Errorf("tags %v: got %v, want %v", tt.tags, ids(got), sorted(tt.want))
		}
	}
}

func testFilterMetadata(t *testing.T, h Harness) {
	e := newEnv(t, h, filterSeed(t)...)
	e.eventuallyResolves(discovery.Filter{}, "a", "b", "c")
	tests := []struct {
		f    discovery.Filter
		want []string
	}{
		{discovery.Filter{Metadata: map[string]string{"zone": "eu-1"}}, []string{"a", "b"}},
		{discovery.Filter{Metadata: map[string]string{"zone": "us-1"}}, []string{"c"}},
		{discovery.Filter{Metadata: map[string]string{"zone": "eu-1"}, Tags: []string{"v2"}}, []string{"b"}},
		{discovery.Filter{Metadata: map[string]string{"zone": "ap-1"}}, nil},
	}
	for _, tt := range tests {
		got := e.resolve(tt.f)
		if !slices.Equal(ids(got), sorted(tt.want)) {
			t.Errorf("filter %+v: got %v, want %v", tt.f, ids(got), sorted(tt.want))
		}
	}
}

func testWatchInitial(t *testing.T, h Harness) {
	tmp := newEnvTemplate(t)
	e := newEnv(t, h, tmp.inst("a", 9101), tmp.inst("b", 9102))
	e.eventuallyResolves(discovery.Filter{}, "a", "b")
	w := e.watch(discovery.Filter{})
	w.until(h.wait(), "a", "b")
}

func testWatchCancel(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := e.reg.Watch(ctx, e.service, discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	timer := time.NewTimer(h.wait())
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatal("watch channel still open after its context was cancelled")
		}
	}
}

func testWatchAddRemove(t *testing.T, h Harness) {
	e := newEnv(t, h)
	w := e.watch(discovery.Filter{})
	w.until(h.wait()) // the empty set first
	e.add(e.inst("a", 9201))
	w.until(h.wait(), "a")
	e.add(e.inst("b", 9202))
	w.until(h.wait(), "a", "b")
	e.remove("a")
	w.until(h.wait(), "b")
	e.eventuallyResolves(discovery.Filter{}, "b")
}

func testWatchHealth(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.add(e.inst("a", 9301))
	e.add(e.inst("b", 9302))
	w := e.watch(discovery.Filter{})
	w.until(h.wait(), "a", "b")
	e.setHealthy("a", false)
	w.until(h.wait(), "b")
	e.eventuallyResolves(discovery.Filter{}, "b")
	e.setHealthy("a", true)
	w.until(h.wait(), "a", "b")
}

func testWatchFilter(t *testing.T, h Harness) {
	e := newEnv(t, h)
	w := e.watch(discovery.Filter{Tags: []string{"v2"}, Metadata: map[string]string{"zone": "eu-1"}})
	w.until(h.wait())
	for _, inst := range filterSeed(t) {
		e.add(inst)
	}
	w.until(h.wait(), "b")
	d := e.inst("d", 9304)
	d.Tags, d.Metadata = []string{"v2"}, map[string]string{"zone": "eu-1"}
	e.add(d)
	w.until(h.wait(), "b", "d")
	e.remove("b")
	w.until(h.wait(), "d")
}

// testWatchSetsAreComplete replaces an instance with a new port and version
// and checks no update ever shows a mix of the old and the new.
func testWatchComplete(t *testing.T, h Harness) {
	e := newEnv(t, h)
	w := e.watch(discovery.Filter{})
	w.until(h.wait())
	for i := range 5 {
		e.add(e.inst("x"+string(rune('0'+i)), 9400+i))
	}
	w.until(h.wait(), "x0", "x1", "x2", "x3", "x4")
	up := e.inst("x0", 9500)
	up.Version = "2.0.0"
	if h.Features.Register {
		e.add(up)
	} else { // the platform replaces an endpoint by removing and adding it
		e.remove("x0")
		e.add(up)
	}
	deadline := time.Now().Add(h.wait())
	for {
		got := w.until(time.Until(deadline), "x0", "x1", "x2", "x3", "x4")
		if got[0].Port == 9500 && got[0].Version == "2.0.0" {
			break
		}
	}
	for _, set := range w.seen {
		for _, inst := range set {
			if inst.ID == "x0" && (inst.Port == 9500) != (inst.Version == "2.0.0") {
				t.Fatalf("watch showed a half-applied instance: %s", describe([]discovery.Instance{inst}))
			}
		}
	}
}

func testDeregister(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.add(e.inst("a", 9501))
	e.add(e.inst("b", 9502))
	e.eventuallyResolves(discovery.Filter{}, "a", "b")
	if err := e.reg.Deregister(e.ctx(), "a"); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	e.eventuallyResolves(discovery.Filter{}, "b")
	if err := e.reg.Deregister(e.ctx(), "a"); !errors.Is(err, discovery.ErrNotFound) {
		t.Fatalf("second Deregister = %v, want ErrNotFound", err)
	}
}

func testNotFound(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if err := e.reg.Deregister(e.ctx(), "ghost"); !errors.Is(err, discovery.ErrNotFound) {
		t.Errorf("Deregister(ghost) = %v, want ErrNotFound", err)
	}
	if err := e.reg.SetStatus(e.ctx(), "ghost", discovery.StatusUnhealthy); !errors.Is(err, discovery.ErrNotFound) {
		t.Errorf("SetStatus(ghost) = %v, want ErrNotFound", err)
	}
	bad := e.inst("", 1)
	if err := e.reg.Register(e.ctx(), bad); !errors.Is(err, discovery.ErrInvalid) {
		t.Errorf("Register(no id) = %v, want ErrInvalid", err)
	}
}

func testCloseDeregisters(t *testing.T, h Harness) {
	e := newEnv(t, h)
	owner := h.New(t, nil)
	inst := e.inst("leaving", 9601)
	inst.Check = h.Check
	if err := owner.Register(e.ctx(), inst); err != nil {
		t.Fatal(err)
	}
	w := e.watch(discovery.Filter{})
	w.until(h.wait(), "leaving")
	if err := owner.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w.until(h.wait())
}

func testExpiry(t *testing.T, h Harness) {
	e := newEnv(t, h)
	owner := h.New(t, nil)
	inst := e.inst("doomed", 9701)
	inst.Check = h.Check
	if err := owner.Register(e.ctx(), inst); err != nil {
		t.Fatal(err)
	}
	e.add(e.inst("survivor", 9702))
	w := e.watch(discovery.Filter{})
	w.until(h.wait(), "doomed", "survivor")
	h.Crash(t, owner)
	w.until(h.expiryWait(), "survivor")
}

func testUnsupported(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if err := e.reg.Register(e.ctx(), e.inst("a", 9801)); !errors.Is(err, discovery.ErrUnsupported) {
		t.Errorf("Register = %v, want ErrUnsupported", err)
	}
	if err := e.reg.Deregister(e.ctx(), "a"); !errors.Is(err, discovery.ErrUnsupported) {
		t.Errorf("Deregister = %v, want ErrUnsupported", err)
	}
	if err := e.reg.SetStatus(e.ctx(), "a", discovery.StatusUnhealthy); !errors.Is(err, discovery.ErrUnsupported) {
		t.Errorf("SetStatus = %v, want ErrUnsupported", err)
	}
}
