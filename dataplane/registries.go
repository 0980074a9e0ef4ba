package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/multi"
)

// registries is the discovery side of meshd: registry connections kept by
// name across reloads, one watch per cluster with `discovery:`, the
// endpoints they found, and the app's own registration.
type registries struct {
	s       *Server
	metrics *multi.Metrics

	mu         sync.Mutex
	regs       map[string]*regEntry
	watches    map[string]*watchEntry
	discovered map[string][]conf.Endpoint
	self       *selfEntry
}

type regEntry struct {
	key string
	r   discovery.Registry
}

type watchEntry struct {
	key    string
	cancel context.CancelFunc
}

type selfEntry struct {
	key    string
	inst   discovery.Instance
	regs   []discovery.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func newRegistries(s *Server) *registries {
	m := multi.NewMetrics("meshd")
	s.stats.Registry.MustRegister(m)
	return &registries{s: s, metrics: m, regs: map[string]*regEntry{}, watches: map[string]*watchEntry{}, discovered: map[string][]conf.Endpoint{}}
}

// effective is cfg with each discovering cluster's endpoints filled in
// from what its registries last said. cfg itself is not changed.
func (rg *registries) effective(cfg *conf.Config) *conf.Config {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	has := false
	for _, cl := range cfg.Clusters {
		if cl.Discovery != nil {
			has = true
		}
	}
	if !has {
		return cfg
	}
	out := *cfg
	out.Clusters = make([]conf.Cluster, len(cfg.Clusters))
	for i, cl := range cfg.Clusters {
		if cl.Discovery != nil {
			cl.Endpoints = rg.discovered[cl.Name]
		}
		out.Clusters[i] = cl
	}
	return &out
}

// prepare opens the registries cfg names that are new or changed; a
// registry that cannot be opened rejects the reload.
func (rg *registries) prepare(ctx context.Context, cfg *conf.Config) (map[string]*regEntry, error) {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	next := map[string]*regEntry{}
	for _, rc := range cfg.Registries {
		k := jsonKey(rc)
		if old, ok := rg.regs[rc.Name]; ok && old.key == k {
			next[rc.Name] = old
			continue
		}
		octx, cancel := context.WithTimeout(ctx, 15*time.Second)
		r, err := discovery.Open(octx, discovery.BackendConfig{Backend: rc.Backend, Options: rc.Options})
		cancel()
		if err != nil {
			for n, e := range next {
				if rg.regs[n] != e {
					e.r.Close()
				}
			}
			return nil, fmt.Errorf("registry %s: %w", rc.Name, err)
		}
		next[rc.Name] = &regEntry{key: k, r: r}
	}
	return next, nil
}

// commit swaps in the registry set, restarts the watches whose target or
// registries changed, re-registers the app when its definition changed,
// and closes registries no longer used.
func (rg *registries) commit(cfg *conf.Config, next map[string]*regEntry) {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	old := rg.regs
	rg.regs = next
	want := map[string]string{}
	for _, cl := range cfg.Clusters {
		if d := cl.Discovery; d != nil {
			k := jsonKey(d)
			for _, n := range d.Names() {
				k += next[n].key
			}
			want[cl.Name] = k
		}
	}
	for name, w := range rg.watches {
		if want[name] != w.key {
			w.cancel()
			delete(rg.watches, name)
			if _, still := want[name]; !still {
				delete(rg.discovered, name)
			}
		}
	}
	for _, cl := range cfg.Clusters {
		if cl.Discovery == nil {
			continue
		}
		if _, ok := rg.watches[cl.Name]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(rg.s.ctx)
		rg.watches[cl.Name] = &watchEntry{key: want[cl.Name], cancel: cancel}
		var members []multi.Member
		for _, n := range cl.Discovery.Names() {
			members = append(members, multi.Member{Name: n, Registry: next[n].r})
		}
		go rg.watch(ctx, cl.Name, *cl.Discovery, members)
	}
	rg.commitSelf(cfg.Service)
	for name, e := range old {
		if next[name] != e {
			go e.r.Close()
		}
	}
}

// watch follows one cluster's service and applies each new set.
func (rg *registries) watch(ctx context.Context, cluster string, d conf.Discovery, members []multi.Member) {
	m, err := multi.New(members, multi.WithBorrowedMembers(), multi.WithMetrics(rg.metrics))
	if err != nil {
		rg.s.log.Error("discovery watch not started", "cluster", cluster, "error", err)
		return
	}
	defer m.Close()
	for ctx.Err() == nil {
		ch, err := m.Watch(ctx, d.Service, discovery.Filter{Tags: d.Tags, Metadata: d.Metadata})
		if err != nil {
			rg.s.log.Warn("discovery watch failed; retrying", "cluster", cluster, "service", d.Service, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		for up := range ch {
			if up.Err != nil {
				rg.s.log.Warn("discovery: registry unavailable; keeping the last known endpoints", "cluster", cluster, "error", up.Err)
			}
			eps := make([]conf.Endpoint, 0, len(up.Instances))
			for _, in := range up.Instances {
				eps = append(eps, conf.Endpoint{Address: in.HostPort(), Weight: 1, Source: in.Source})
			}
			rg.set(ctx, cluster, eps)
		}
	}
}

// set records a cluster's endpoints and applies them when they changed.
func (rg *registries) set(ctx context.Context, cluster string, eps []conf.Endpoint) {
	rg.mu.Lock()
	if ctx.Err() != nil || slices.Equal(rg.discovered[cluster], eps) {
		rg.mu.Unlock()
		return
	}
	rg.discovered[cluster] = eps
	rg.mu.Unlock()
	if err := rg.s.reapply(); err != nil {
		rg.s.log.Error("discovered endpoints not applied", "cluster", cluster, "error", err)
		return
	}
	rg.s.log.Info("endpoints updated from discovery", "cluster", cluster, "endpoints", len(eps))
}

// commitSelf (re)registers the app when its definition changed.
func (rg *registries) commitSelf(sv *conf.Service) {
	key := ""
	if sv != nil {
		key = jsonKey(sv)
		for _, n := range sv.Registries {
			key += rg.regs[n].key
		}
	}
	if rg.self != nil && rg.self.key == key {
		return
	}
	if rg.self != nil {
		rg.deregisterLocked()
	}
	if sv == nil {
		return
	}
	inst := discovery.Instance{Service: sv.Name, ID: sv.ID, Address: sv.Address, Port: sv.Port, Version: sv.Version, Tags: sv.Tags, Metadata: sv.Metadata}
	inst.Check.TTL = sv.TTL.D()
	if hc := sv.HealthCheck; hc != nil {
		inst.Check.HTTP = "http://" + net.JoinHostPort(sv.Address, strconv.Itoa(sv.Port)) + hc.Path
		inst.Check.Interval = hc.Interval.D()
	}
	e := &selfEntry{key: key, inst: inst, done: make(chan struct{})}
	for _, n := range sv.Registries {
		e.regs = append(e.regs, rg.regs[n].r)
	}
	ctx, cancel := context.WithCancel(rg.s.ctx)
	e.cancel = cancel
	rg.self = e
	go rg.keepRegistered(ctx, e, sv.HealthCheck)
}

// keepRegistered registers the app in each registry (retrying one that is
// down) and, with a health check, reports the app's health as it changes.
func (rg *registries) keepRegistered(ctx context.Context, e *selfEntry, hc *conf.HealthCheck) {
	defer close(e.done)
	pending := slices.Clone(e.regs)
	for len(pending) > 0 && ctx.Err() == nil {
		var left []discovery.Registry
		for _, r := range pending {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := r.Register(rctx, e.inst); err != nil {
				rg.s.log.Warn("service registration failed; retrying", "service", e.inst.Service, "id", e.inst.ID, "error", err)
				left = append(left, r)
			}
			cancel()
		}
		pending = left
		if len(pending) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	rg.s.log.Info("service registered", "service", e.inst.Service, "id", e.inst.ID)
	if hc == nil {
		<-ctx.Done()
		return
	}
	client := &http.Client{Timeout: hc.Timeout.D()}
	healthy, passes, fails := true, 0, 0
	t := time.NewTicker(hc.Interval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := client.Get(e.inst.Check.HTTP)
		ok := err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
		if resp != nil {
			resp.Body.Close()
		}
		if ok {
			passes, fails = passes+1, 0
		} else {
			fails, passes = fails+1, 0
		}
		next := healthy
		if healthy && fails >= hc.UnhealthyThreshold {
			next = false
		} else if !healthy && passes >= hc.HealthyThreshold {
			next = true
		}
		if next == healthy {
			continue
		}
		healthy = next
		st := discovery.StatusHealthy
		if !healthy {
			st = discovery.StatusUnhealthy
		}
		for _, r := range e.regs {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := r.SetStatus(sctx, e.inst.ID, st); err != nil {
				rg.s.log.Warn("service status not reported", "id", e.inst.ID, "error", err)
			}
			cancel()
		}
		rg.s.log.Info("service health reported", "id", e.inst.ID, "healthy", healthy)
	}
}

func (rg *registries) deregisterLocked() {
	e := rg.self
	rg.self = nil
	if e == nil {
		return
	}
	e.cancel()
	<-e.done
	for _, r := range e.regs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := r.Deregister(ctx, e.inst.ID); err != nil {
			rg.s.log.Warn("service deregistration failed", "id", e.inst.ID, "error", err)
		}
		cancel()
	}
	rg.s.log.Info("service deregistered", "service", e.inst.Service, "id", e.inst.ID)
}

// deregister takes the app out of every registry (SIGTERM, before the
// drain, so callers stop sending first).
func (rg *registries) deregister() {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	rg.deregisterLocked()
}

func (rg *registries) health(ctx context.Context) map[string]error {
	rg.mu.Lock()
	regs := make(map[string]discovery.Registry, len(rg.regs))
	for n, e := range rg.regs {
		regs[n] = e.r
	}
	rg.mu.Unlock()
	out := map[string]error{}
	for n, r := range regs {
		out[n] = r.Health(ctx)
	}
	return out
}

func (rg *registries) close() {
	rg.mu.Lock()
	rg.deregisterLocked()
	for _, w := range rg.watches {
		w.cancel()
	}
	regs := rg.regs
	rg.watches, rg.regs = map[string]*watchEntry{}, map[string]*regEntry{}
	rg.mu.Unlock()
	for _, e := range regs {
		e.r.Close()
	}
}
