package translate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/wasmesh/wasmesh/conf"
)

// Set is the translated resources in force, keyed by resource name
// (endpoints by EDS service name).
type Set struct {
	Listeners map[string]*Listener
	Routes    map[string]*RouteConfig
	Clusters  map[string]*Cluster
	Endpoints map[string][]conf.Endpoint
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{Listeners: map[string]*Listener{}, Routes: map[string]*RouteConfig{}, Clusters: map[string]*Cluster{}, Endpoints: map[string][]conf.Endpoint{}}
}

// Clone copies the maps (the translated values are never mutated, so
// they are shared).
func (s *Set) Clone() *Set {
	c := NewSet()
	for k, v := range s.Listeners {
		c.Listeners[k] = v
	}
	for k, v := range s.Routes {
		c.Routes[k] = v
	}
	for k, v := range s.Clusters {
		c.Clusters[k] = v
	}
	for k, v := range s.Endpoints {
		c.Endpoints[k] = v
	}
	return c
}

// RouteNames are the route configurations the listeners name (what RDS
// subscribes to), sorted.
func (s *Set) RouteNames() []string {
	var out []string
	for _, l := range s.Listeners {
		if l.RDS != "" && !slices.Contains(out, l.RDS) {
			out = append(out, l.RDS)
		}
	}
	slices.Sort(out)
	return out
}

// EndpointNames are the EDS service names of the clusters (what EDS
// subscribes to), sorted.
func (s *Set) EndpointNames() []string {
	var out []string
	for _, c := range s.Clusters {
		if c.EDS && !slices.Contains(out, c.ServiceName) {
			out = append(out, c.ServiceName)
		}
	}
	slices.Sort(out)
	return out
}

// Missing is what a set still waits for, in Envoy's warming order.
type Missing struct {
	// Endpoints are EDS service names of clusters with no assignment yet.
	Endpoints []string `json:"endpoints,omitempty"`
	// Routes are route configurations named by listeners, not received.
	Routes []string `json:"routes,omitempty"`
	// Clusters are clusters routes point at that CDS has not sent.
	Clusters []string `json:"clusters,omitempty"`
}

// Empty reports whether nothing is missing.
func (m Missing) Empty() bool {
	return len(m.Endpoints) == 0 && len(m.Routes) == 0 && len(m.Clusters) == 0
}

// Missing lists what the set waits for.
func (s *Set) Missing() Missing {
	var m Missing
	for _, n := range s.EndpointNames() {
		if _, ok := s.Endpoints[n]; !ok {
			m.Endpoints = append(m.Endpoints, n)
		}
	}
	for _, n := range s.RouteNames() {
		if _, ok := s.Routes[n]; !ok {
			m.Routes = append(m.Routes, n)
		}
	}
	seen := map[string]bool{}
	check := func(vhs []conf.VirtualHost) {
		for _, vh := range vhs {
			for _, r := range vh.Routes {
				for _, c := range routeClusters(&r) {
					if _, ok := s.Clusters[c]; !ok && !seen[c] {
						seen[c] = true
						m.Clusters = append(m.Clusters, c)
					}
				}
			}
		}
	}
	for _, l := range s.Listeners {
		check(l.Conf.VirtualHosts)
		if rc, ok := s.Routes[l.RDS]; ok && l.RDS != "" {
			check(rc.VHosts)
		}
	}
	slices.Sort(m.Clusters)
	return m
}

func routeClusters(r *conf.Route) []string {
	if r.Cluster != "" {
		return []string{r.Cluster}
	}
	var out []string
	for _, w := range r.WeightedClusters {
		out = append(out, w.Name)
	}
	return out
}

// Assemble joins the set into one config on top of base (admin, logging
// and drain settings; its listeners and clusters are kept too). What is
// still missing is treated as Envoy treats it once warming gives up: a
// cluster without endpoints, or one that does not exist, answers 503; a
// listener without its route configuration answers 404.
func (s *Set) Assemble(base *conf.Config) (*conf.Config, []string, error) {
	var warns []string
	cfg := &conf.Config{}
	if base != nil {
		*cfg = *base
		cfg.Listeners = slices.Clone(base.Listeners)
		cfg.Clusters = slices.Clone(base.Clusters)
	}
	hashes := map[string]conf.HashKey{}
	addHashes := func(from string, hs map[string]conf.HashKey) {
		for _, cl := range sortedKeys(hs) {
			hk := hs[cl]
			if old, ok := hashes[cl]; ok && old != hk {
				warns = append(warns, fmt.Sprintf("cluster %q is hashed on different keys by two route configurations; meshd keeps the first, %s's is ignored", cl, from))
				continue
			}
			hashes[cl] = hk
		}
	}
	for _, n := range sortedKeys(s.Routes) {
		addHashes("route configuration "+strconv.Quote(n), s.Routes[n].Hash)
	}
	for _, n := range sortedKeys(s.Listeners) {
		addHashes("listener "+strconv.Quote(n), s.Listeners[n].Hash)
	}
	usable := map[string]bool{}
	for _, c := range cfg.Clusters {
		usable[c.Name] = true
	}
	for _, n := range sortedKeys(s.Clusters) {
		c := s.Clusters[n]
		cc := c.Conf
		if c.EDS {
			cc.Endpoints = s.Endpoints[c.ServiceName]
		}
		if len(cc.Endpoints) == 0 {
			warns = append(warns, fmt.Sprintf("cluster %q has no endpoints: routes to it answer 503", n))
			continue
		}
		if hk, ok := hashes[n]; ok {
			cc.Hash = &hk
		}
		if (cc.LB == "ring_hash" || cc.LB == "maglev") && cc.Hash == nil {
			warns = append(warns, fmt.Sprintf("cluster %q uses %s but no route sets a hash_policy: meshd balances it at random, as Envoy does", n, cc.LB))
			cc.LB = "random"
		}
		usable[n] = true
		cfg.Clusters = append(cfg.Clusters, cc)
	}
	for _, n := range sortedKeys(s.Listeners) {
		l := s.Listeners[n]
		if l.Skip {
			continue
		}
		cl := l.Conf
		vhs := l.Conf.VirtualHosts
		if l.RDS != "" {
			if rc, ok := s.Routes[l.RDS]; ok {
				vhs = rc.VHosts
			} else {
				warns = append(warns, fmt.Sprintf("listener %q: route configuration %q never arrived: it answers 404", n, l.RDS))
			}
		}
		cl.VirtualHosts = make([]conf.VirtualHost, 0, len(vhs))
		for _, vh := range vhs {
			nv := vh
			nv.Routes = make([]conf.Route, len(vh.Routes))
			for i, r := range vh.Routes {
				nv.Routes[i] = keepFilters(resolve(r, usable), cl.Filters)
			}
			cl.VirtualHosts = append(cl.VirtualHosts, nv)
		}
		if len(cl.VirtualHosts) == 0 || !slices.ContainsFunc(cl.VirtualHosts, func(v conf.VirtualHost) bool { return len(v.Routes) > 0 }) {
			// Envoy answers 404 when no virtual host or route matches.
			cl.VirtualHosts = append(cl.VirtualHosts, conf.VirtualHost{Name: "meshd-no-routes", Domains: []string{"meshd-no-routes.invalid"},
				Routes: []conf.Route{{Name: "no-routes", Match: conf.Match{Prefix: "/"}, DirectResponse: &conf.DirectResponse{Status: 404}}}})
		}
		cfg.Listeners = append(cfg.Listeners, cl)
	}
	out, err := clone(cfg)
	return out, warns, err
}

// resolve points a route away from clusters that cannot serve: Envoy
// answers 503 for a cluster that is unknown or has no healthy endpoint.
func resolve(r conf.Route, usable map[string]bool) conf.Route {
	unavailable := &conf.DirectResponse{Status: 503, Body: "no healthy upstream"}
	if r.Cluster != "" && !usable[r.Cluster] {
		r.Cluster = ""
		r.DirectResponse = unavailable
		r.Retry, r.Timeout, r.PrefixRewrite, r.HostRewrite = nil, 0, "", ""
		return r
	}
	if len(r.WeightedClusters) > 0 {
		var kept []conf.WeightedCluster
		for _, w := range r.WeightedClusters {
			if usable[w.Name] {
				kept = append(kept, w)
			}
		}
		if len(kept) == 0 {
			r.WeightedClusters = nil
			r.DirectResponse = unavailable
			r.Retry, r.Timeout, r.PrefixRewrite, r.HostRewrite = nil, 0, "", ""
		} else {
			r.WeightedClusters = kept
		}
	}
	return r
}

// clone deep-copies a config, so conf.SetDefaults on the result never
// touches the translated resources held for the next update.
func clone(c *conf.Config) (*conf.Config, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	var out conf.Config
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	return &out, nil
}

// keepFilters drops per-route overrides of filters the listener does not
// run: one route configuration may serve listeners with different chains,
// and Envoy ignores such overrides.
func keepFilters(r conf.Route, filters []conf.Filter) conf.Route {
	if len(r.Filters) == 0 {
		return r
	}
	var kept []conf.RouteFilter
	for _, f := range r.Filters {
		if slices.ContainsFunc(filters, func(lf conf.Filter) bool { return lf.Name == f.Name }) {
			kept = append(kept, f)
		}
	}
	r.Filters = kept
	return r
}
