package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane/internal/stats"
	"github.com/wasmesh/wasmesh/dataplane/lb"
)

// Manager owns every cluster's runtime and keeps it across reloads.
type Manager struct {
	mu       sync.Mutex
	ctx      context.Context
	stats    *stats.Stats
	log      *slog.Logger
	clusters map[string]*Cluster
	hosts    map[hostKey]*Host
	rts      map[rtKey]rtEntry
	// Grace is how long a removed cluster keeps its pools for requests
	// still in flight on an older snapshot.
	Grace time.Duration
}

// NewManager makes an empty manager; ctx bounds its background work.
func NewManager(ctx context.Context, s *stats.Stats, log *slog.Logger) *Manager {
	return &Manager{ctx: ctx, stats: s, log: log, clusters: map[string]*Cluster{}, hosts: map[hostKey]*Host{}, rts: map[rtKey]rtEntry{}, Grace: 30 * time.Second}
}

// Build prepares the clusters for defs without touching the ones in use:
// unchanged definitions give back the running cluster, changed ones a new
// cluster that reuses the hosts (pools and health) whose settings match.
// Commit makes the result current; a reload that fails after Build simply
// never commits.
func (m *Manager) Build(defs []conf.Cluster) (map[string]*Cluster, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*Cluster, len(defs))
	for _, def := range defs {
		k := defKey(def)
		if old, ok := m.clusters[def.Name]; ok && old.key == k {
			out[def.Name] = old
			continue
		}
		c := &Cluster{Name: def.Name, Def: def, key: k, M: newMetrics(m.stats, def.Name), log: m.log, lbDirty: make(chan struct{}, 1)}
		lbHosts := make([]lb.Host, 0, len(def.Endpoints))
		perHost := def.CircuitBreaker.MaxConnections
		if len(def.Endpoints) > 0 {
			perHost = max(1, def.CircuitBreaker.MaxConnections/len(def.Endpoints))
		}
		if def.MaxConnsPerEndpoint > 0 {
			perHost = def.MaxConnsPerEndpoint
		}
		for _, ep := range def.Endpoints {
			hk := hostKey{cluster: def.Name, tls: def.TLS != nil, addr: ep.Address, weight: ep.Weight, connectTimeout: def.ConnectTimeout.D(), maxConns: perHost}
			h, ok := m.hosts[hk]
			if !ok {
				src := ep.Source
				if src == "" {
					src = "config"
				}
				h = newHost(hk, src)
			}
			c.Hosts = append(c.Hosts, h)
			lbHosts = append(lbHosts, h)
		}
		rk := rtKey{cluster: def.Name, protocol: def.Protocol, connectTimeout: def.ConnectTimeout.D(), maxConns: perHost}
		if def.TLS != nil {
			rk.tls = fmt.Sprintf("%+v", *def.TLS)
		}
		e, ok := m.rts[rk]
		if !ok {
			rt, tlsCfg, err := newRoundTripper(def, perHost)
			if err != nil {
				return nil, err
			}
			e = rtEntry{rt, tlsCfg}
			m.rts[rk] = e
		}
		c.RT, c.TLS, c.HTTP2 = e.rt, e.tls, IsHTTP2(def)
		for _, h := range c.Hosts {
			if c.TLS != nil && !h.Client.IsTLS {
				h.Client.IsTLS, h.Client.TLSConfig = true, c.TLS
			}
		}
		p, err := lb.New(def.LB, lbHosts)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", def.Name, err)
		}
		c.picker = p
		c.refreshLB() // hosts kept from the running cluster keep their health
		out[def.Name] = c
	}
	return out, nil
}

type rtEntry struct {
	rt  http.RoundTripper
	tls *tls.Config
}

// Commit makes built the current cluster set: new clusters start their
// health checks, replaced and removed ones stop after the grace period.
func (m *Manager) Commit(built map[string]*Cluster) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var retired []*Cluster
	for name, old := range m.clusters {
		if nc, ok := built[name]; !ok || nc != old {
			retired = append(retired, old)
		}
	}
	hosts := map[hostKey]*Host{}
	for name, c := range built {
		if old, ok := m.clusters[name]; !ok || old != c {
			c.start(m.ctx)
		}
		for i, h := range c.Hosts {
			ep := c.Def.Endpoints[i]
			hosts[hostKey{cluster: name, tls: c.TLS != nil, addr: h.Addr, weight: ep.Weight, connectTimeout: c.Def.ConnectTimeout.D(), maxConns: h.Client.MaxConns}] = h
		}
	}
	m.clusters = built
	m.hosts = hosts
	for _, c := range retired {
		c := c
		c.stop()
		// Its health loop may have changed a host the new cluster shares.
		if nc, ok := built[c.Name]; ok {
			nc.availabilityChanged()
		}
		go func() {
			select {
			case <-time.After(m.Grace):
			case <-m.ctx.Done():
			}
			for _, h := range c.Hosts {
				if !m.inUse(h) {
					h.Client.CloseIdleConnections()
				}
			}
		}()
	}
}

func (m *Manager) inUse(h *Host) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.clusters {
		for _, o := range c.Hosts {
			if o == h {
				return true
			}
		}
	}
	return false
}

// Get returns the current cluster by name.
func (m *Manager) Get(name string) *Cluster {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clusters[name]
}

// All returns the current clusters.
func (m *Manager) All() []*Cluster {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Cluster, 0, len(m.clusters))
	for _, c := range m.clusters {
		out = append(out, c)
	}
	return out
}

// Close stops every cluster's background work.
func (m *Manager) Close() {
	m.mu.Lock()
	cs := m.clusters
	m.clusters = map[string]*Cluster{}
	m.mu.Unlock()
	for _, c := range cs {
		c.stop()
		for _, h := range c.Hosts {
			h.Client.CloseIdleConnections()
		}
	}
}
