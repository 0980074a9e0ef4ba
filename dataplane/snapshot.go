package dataplane

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane/internal/route"
	"github.com/wasmesh/wasmesh/dataplane/internal/upstream"
	"github.com/wasmesh/wasmesh/identity/authz"
	"github.com/wasmesh/wasmesh/identity/tokens"
	"github.com/wasmesh/wasmesh/internal/telemetry"
)

// snapshot is one config in force, compiled. It is never mutated.
type snapshot struct {
	version   string
	cfg       *conf.Config
	loadedAt  time.Time
	listeners map[string]*listenerSnap
	clusters  map[string]*upstream.Cluster
}

type listenerSnap struct {
	name      string
	hosts     *route.Hosts
	vhosts    []*vhostSnap
	accessLog bool
	requests  prometheus.Counter
	chain     *filterChain
	authz     *authz.Engine
}

type vhostSnap struct {
	name   string
	routes []*routeSnap
}

type header struct{ key, val []byte }

type routeSnap struct {
	name     string
	cfg      *conf.Route
	m        *route.Matcher
	clusters []*upstream.Cluster
	weights  []int
	total    int
	// tokens[i] attaches a JWT to requests to clusters[i] (nil: none).
	tokens []tokens.Source

	directStatus int
	directBody   []byte
	redirect     *conf.Redirect

	timeout time.Duration
	perTry  time.Duration
	idle    time.Duration
	retry   *retryPolicy

	prefixRewrite string
	hasRewrite    bool
	hostRewrite   []byte
	reqAdd        []header
	reqRemove     [][]byte
	respAdd       []header
	respRemove    [][]byte

	// http and rpc are the route's duration histograms (gRPC calls are
	// in both: the HTTP view and the gRPC status view).
	http *telemetry.ClassHistogram
	rpc  *telemetry.RPCHistogram
	// authorize is true when an authorization policy selects the route.
	authorize bool
}

type retryPolicy struct {
	attempts              int
	on5xx, onGW, onReset  bool
	onConnect, onStatuses bool
	statuses              []int
	base, max             time.Duration
	// grpc[code] is true for the gRPC status codes to retry on.
	grpc [17]bool
}

func (p *retryPolicy) retriableStatus(code int) bool {
	if code >= 500 && p.on5xx {
		return true
	}
	if p.onGW && (code == 502 || code == 503 || code == 504) {
		return true
	}
	if p.onStatuses {
		for _, s := range p.statuses {
			if s == code {
				return true
			}
		}
	}
	return false
}

func compileRetry(r *conf.Retry) *retryPolicy {
	if r == nil || r.Attempts <= 1 {
		return nil
	}
	p := &retryPolicy{attempts: r.Attempts, statuses: r.RetriableStatusCodes, base: r.Backoff.Base.D(), max: r.Backoff.Max.D()}
	for _, on := range r.On {
		switch on {
		case "5xx":
			p.on5xx, p.onReset, p.onConnect = true, true, true
		case "gateway-error":
			p.onGW = true
		case "reset":
			p.onReset = true
		case "connect-failure":
			p.onConnect = true
		case "retriable-status-codes":
			p.onStatuses = true
		case "cancelled":
			p.grpc[grpcCancelled] = true
		case "deadline-exceeded":
			p.grpc[grpcDeadlineExceeded] = true
		case "internal":
			p.grpc[grpcInternal] = true
		case "resource-exhausted":
			p.grpc[grpcResourceExhausted] = true
		case "unavailable":
			p.grpc[grpcUnavailable] = true
		}
	}
	return p
}

func headersOf(m map[string]string) []header {
	var out []header
	for _, k := range sortedKeys(m) {
		out = append(out, header{[]byte(k), []byte(m[k])})
	}
	return out
}

func bytesOf(l []string) [][]byte {
	var out [][]byte
	for _, s := range l {
		out = append(out, []byte(s))
	}
	return out
}

// compileListener turns one listener's config into its snapshot.
func (s *Server) compileListener(cfg *conf.Config, l *conf.Listener, clusters map[string]*upstream.Cluster, plugins map[string]*pluginEntry, engine *authz.Engine, toks map[string]*tokenEntry) (*listenerSnap, error) {
	ls := &listenerSnap{name: l.Name, requests: s.stats.ListenerRequests.WithLabelValues(l.Name), authz: engine}
	ls.accessLog = s.cfgAccessLog
	vhosts := l.VirtualHosts
	if len(l.Routes) > 0 {
		vhosts = append([]conf.VirtualHost{{Name: "default", Domains: []string{"*"}, Routes: l.Routes}}, vhosts...)
	}
	names := map[*conf.Route]string{}
	for vi := range vhosts {
		vh := &vhosts[vi]
		for ri := range vh.Routes {
			r := &vh.Routes[ri]
			name := r.Name
			if name == "" {
				name = l.Name + "-" + vh.Name + "-" + strconv.Itoa(ri)
				if vh.Name == "default" {
					name = l.Name + "-" + strconv.Itoa(ri)
				}
			}
			names[r] = name
		}
	}
	chain, err := s.filters.build(cfg, l, names, plugins)
	if err != nil {
		return nil, err
	}
	ls.chain = chain
	var domains [][]string
	for vi := range vhosts {
		vh := &vhosts[vi]
		vs := &vhostSnap{name: vh.Name}
		for ri := range vh.Routes {
			r := &vh.Routes[ri]
			rs, err := s.compileRoute(l, names[r], r, clusters)
			if err == nil {
				for _, c := range rs.clusters {
					rs.tokens = append(rs.tokens, sourceFor(toks, c.Def))
				}
			}
			if err != nil {
				return nil, err
			}
			rs.authorize = ls.authz.Selects(rs.name)
			vs.routes = append(vs.routes, rs)
		}
		ls.vhosts = append(ls.vhosts, vs)
		domains = append(domains, vh.Domains)
	}
	ls.hosts = route.NewHosts(domains)
	return ls, nil
}

func (s *Server) compileRoute(l *conf.Listener, name string, r *conf.Route, clusters map[string]*upstream.Cluster) (*routeSnap, error) {
	m, err := route.NewMatcher(r.Match)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", name, err)
	}
	rs := &routeSnap{
		name: name, cfg: r, m: m,
		timeout: r.Timeout.D(), idle: r.IdleTimeout.D(),
		retry:         compileRetry(r.Retry),
		prefixRewrite: r.PrefixRewrite, hasRewrite: r.PrefixRewrite != "",
		reqAdd: headersOf(r.RequestHeadersToAdd), reqRemove: bytesOf(r.RequestHeadersToRemove),
		respAdd: headersOf(r.ResponseHeadersToAdd), respRemove: bytesOf(r.ResponseHeadersToRemove),
		http: telemetry.NewClassHistogram(s.stats.ServerDuration, l.Name, name),
		rpc:  telemetry.NewRPCHistogram(s.stats.RPCDuration, l.Name, name),
	}
	if r.HostRewrite != "" {
		rs.hostRewrite = []byte(r.HostRewrite)
	}
	if r.Retry != nil {
		rs.perTry = r.Retry.PerTryTimeout.D()
	}
	if dr := r.DirectResponse; dr != nil {
		rs.directStatus, rs.directBody = dr.Status, []byte(dr.Body)
	}
	rs.redirect = r.Redirect
	add := func(n string, w int) error {
		c, ok := clusters[n]
		if !ok {
			return fmt.Errorf("route %s: cluster %q does not exist", name, n)
		}
		rs.clusters = append(rs.clusters, c)
		rs.weights = append(rs.weights, w)
		rs.total += w
		return nil
	}
	if r.Cluster != "" {
		if err := add(r.Cluster, 1); err != nil {
			return nil, err
		}
	}
	for _, wc := range r.WeightedClusters {
		if err := add(wc.Name, wc.Weight); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && strings.Compare(ks[j-1], ks[j]) > 0; j-- {
			ks[j-1], ks[j] = ks[j], ks[j-1]
		}
	}
	return ks
}
