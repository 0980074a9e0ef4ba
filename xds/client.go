package xds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/xds/internal/translate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Resource type URLs, in the order Envoy warms them.
const (
	TypeCluster  = resourcev3.ClusterType
	TypeEndpoint = resourcev3.EndpointType
	TypeListener = resourcev3.ListenerType
	TypeRoute    = resourcev3.RouteType
)

var typeOrder = []string{TypeCluster, TypeEndpoint, TypeListener, TypeRoute}

var shortName = map[string]string{TypeCluster: "cds", TypeEndpoint: "eds", TypeListener: "lds", TypeRoute: "rds"}

// Node identifies meshd to the control plane, as Envoy's --service-node,
// --service-cluster and node.metadata do.
type Node struct {
	ID       string
	Cluster  string
	Metadata map[string]any
}

// Options configure a Client. Server and Apply are required.
type Options struct {
	// Server is the management server's host:port (gRPC).
	Server string
	Node   Node
	// Delta selects the incremental protocol (DeltaAggregatedResources)
	// instead of state-of-the-world.
	Delta bool
	// TLS, when set, secures the connection (mutual TLS with a client
	// certificate); nil means plaintext.
	TLS *TLS
	// Apply receives each whole, validated config; meshd binds it to
	// dataplane.Server.Apply. An error NACKs the update that caused it.
	Apply func(cfg *conf.Config, version string) error
	// Base carries what xDS does not (admin, logging, drain); its
	// listeners and clusters, if any, are kept beside the dynamic ones.
	Base *conf.Config
	// Static are Envoy resources from a bootstrap's static_resources
	// (listeners, clusters, cluster load assignments, route configs); the
	// control plane cannot remove them.
	Static []proto.Message
	// WarmTimeout bounds how long a cluster waits for its endpoints and a
	// listener for its route configuration (Envoy's initial_fetch_timeout).
	WarmTimeout time.Duration
	// MissingClusterGrace is how long a route pointing at a cluster CDS
	// has not sent waits for it before answering 503, so a control plane
	// that sends RDS before CDS causes no errors.
	MissingClusterGrace time.Duration
	// BackoffBase and BackoffMax bound the reconnect backoff.
	BackoffBase, BackoffMax time.Duration
	Logger                  *slog.Logger
	// Registerer receives the client's metrics; nil registers none.
	Registerer  prometheus.Registerer
	DialOptions []grpc.DialOption
}

// Client is an ADS client. Run drives it; Status reports on it.
type Client struct {
	opts   Options
	log    *slog.Logger
	node   *corev3.Node
	m      metrics
	static staticSet

	mu    sync.Mutex
	set   *translate.Set
	types map[string]*typeState
	st    Status
	// pendingSince is when each missing resource was first waited for.
	pendingSince map[string]time.Time
	lastJSON     []byte
	warnings     []string
	// wake re-evaluates warming when a wait expires.
	wake *time.Timer
	// deferred are NACKs held back by nackDelay.
	deferred []deferredReq
}

type staticSet struct {
	set       *translate.Set
	warnings  []string
	listeners map[string]bool
	clusters  map[string]bool
}

type typeState struct {
	version  string
	nonce    string
	names    []string          // subscribed names (RDS, EDS)
	sent     bool              // a request went out on this stream
	versions map[string]string // delta: resource versions held
	received bool
	acks     uint64
	nacks    uint64
	lastNACK *NACK
	// nackRepeats counts NACKs of the same version in a row, to slow a
	// control plane that resends a rejected update at once.
	nackRepeats int
}

// NACK is the last rejected update of one type.
type NACK struct {
	At      time.Time `json:"at"`
	Version string    `json:"version"`
	Nonce   string    `json:"nonce"`
	Error   string    `json:"error"`
}

// TypeStatus is the state of one resource type.
type TypeStatus struct {
	TypeURL    string   `json:"type_url"`
	Version    string   `json:"version"`
	Nonce      string   `json:"nonce"`
	Resources  int      `json:"resources"`
	Subscribed []string `json:"subscribed,omitempty"`
	ACKs       uint64   `json:"acks"`
	NACKs      uint64   `json:"nacks"`
	LastNACK   *NACK    `json:"last_nack,omitempty"`
}

// Status is what /config_dump shows under sources.xds and meshctl xds
// prints.
type Status struct {
	Server string `json:"server"`
	Mode   string `json:"mode"`
	Node   string `json:"node"`
	// Connected is set while the stream is up and the server has
	// answered on it.
	Connected      bool                  `json:"connected"`
	ConnectedSince *time.Time            `json:"connected_since,omitempty"`
	Reconnects     int                   `json:"reconnects"`
	LastError      string                `json:"last_stream_error,omitempty"`
	Types          map[string]TypeStatus `json:"types"`
	AppliedVersion string                `json:"applied_version,omitempty"`
	AppliedAt      *time.Time            `json:"applied_at,omitempty"`
	LastApplyError string                `json:"last_apply_error,omitempty"`
	Waiting        Waiting               `json:"waiting_for"`
	Warnings       []string              `json:"warnings,omitempty"`
}

// Waiting is what the client holds an update back for, in Envoy's warming
// order; each wait is bounded (Options.WarmTimeout, MissingClusterGrace).
type Waiting struct {
	// Endpoints are EDS service names of clusters with no assignment yet.
	Endpoints []string `json:"endpoints,omitempty"`
	// Routes are route configurations listeners name, not received yet.
	Routes []string `json:"routes,omitempty"`
	// Clusters are clusters routes point at that CDS has not sent.
	Clusters []string `json:"clusters,omitempty"`
}

type metrics struct {
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	responses  *prometheus.CounterVec
	applies    *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) metrics {
	m := metrics{
		connected:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshd_xds_connected", Help: "1 while the ADS stream to the management server is up."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "meshd_xds_reconnects_total", Help: "ADS streams opened again after one ended."}),
		responses:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshd_xds_responses_total", Help: "xDS responses by type (lds, rds, cds, eds) and result (ack, nack)."}, []string{"type", "result"}),
		applies:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshd_xds_applies_total", Help: "Whole configs built from xDS and handed to the data plane, by result (success, failure)."}, []string{"result"}),
	}
	if r != nil {
		for _, c := range []prometheus.Collector{m.connected, m.reconnects, m.responses, m.applies} {
			if err := r.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
	}
	return m
}

// New checks opts and makes a client; Run starts it.
func New(opts Options) (*Client, error) {
	if opts.Server == "" {
		return nil, errors.New("xds: a management server address is required")
	}
	if opts.Apply == nil {
		return nil, errors.New("xds: Options.Apply is required")
	}
	if opts.Node.ID == "" {
		return nil, errors.New("xds: a node id is required (control planes key their snapshots on it)")
	}
	if opts.TLS != nil {
		if _, err := opts.TLS.Config(); err != nil {
			return nil, err
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WarmTimeout == 0 {
		opts.WarmTimeout = 15 * time.Second
	}
	if opts.MissingClusterGrace == 0 {
		opts.MissingClusterGrace = time.Second
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 100 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 30 * time.Second
	}
	node := &corev3.Node{Id: opts.Node.ID, Cluster: opts.Node.Cluster, UserAgentName: "meshd",
		UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: "wasmesh"}}
	if len(opts.Node.Metadata) > 0 {
		md, err := structpb.NewStruct(opts.Node.Metadata)
		if err != nil {
			return nil, fmt.Errorf("xds: node metadata: %w", err)
		}
		node.Metadata = md
	}
	c := &Client{opts: opts, log: opts.Logger.With("component", "xds"), node: node, m: newMetrics(opts.Registerer),
		types: map[string]*typeState{}, pendingSince: map[string]time.Time{}}
	for _, t := range typeOrder {
		c.types[t] = &typeState{versions: map[string]string{}}
	}
	st, err := buildStatic(opts.Static)
	if err != nil {
		return nil, err
	}
	c.static = st
	c.set = st.set.Clone()
	c.st = Status{Server: opts.Server, Mode: "sotw", Node: opts.Node.ID}
	if opts.Delta {
		c.st.Mode = "delta"
	}
	return c, nil
}

func buildStatic(msgs []proto.Message) (staticSet, error) {
	s := staticSet{set: translate.NewSet(), listeners: map[string]bool{}, clusters: map[string]bool{}}
	t := &translate.T{}
	for _, m := range msgs {
		if err := addResource(t, s.set, m); err != nil {
			return s, fmt.Errorf("static_resources: %w", err)
		}
	}
	s.warnings = t.Warnings
	for n := range s.set.Listeners {
		s.listeners[n] = true
	}
	for n := range s.set.Clusters {
		s.clusters[n] = true
	}
	return s, nil
}

// Status returns a copy of the client's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.Types = map[string]TypeStatus{}
	for _, t := range typeOrder {
		ts := c.types[t]
		n := 0
		switch t {
		case TypeCluster:
			n = len(c.set.Clusters)
		case TypeEndpoint:
			n = len(c.set.Endpoints)
		case TypeListener:
			n = len(c.set.Listeners)
		case TypeRoute:
			n = len(c.set.Routes)
		}
		var nack *NACK
		if ts.lastNACK != nil {
			cp := *ts.lastNACK
			nack = &cp
		}
		s.Types[shortName[t]] = TypeStatus{TypeURL: t, Version: ts.version, Nonce: ts.nonce, Resources: n, Subscribed: slices.Clone(ts.names), ACKs: ts.acks, NACKs: ts.nacks, LastNACK: nack}
	}
	s.Warnings = slices.Clone(c.warnings)
	return s
}

// Run keeps an ADS stream open until ctx ends, reconnecting with
// exponential backoff and jitter. The config in force stays when the
// stream breaks; a new stream resumes from the versions held.
func (c *Client) Run(ctx context.Context) error {
	creds := insecure.NewCredentials()
	if c.opts.TLS != nil {
		tc, err := c.opts.TLS.Config()
		if err != nil {
			return err
		}
		creds = credentials.NewTLS(tc)
	}
	dopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// Control planes with many clusters send responses far above
		// gRPC's 4 MB default; Envoy has no such limit.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponse)),
	}, c.opts.DialOptions...)
	conn, err := grpc.NewClient(c.opts.Server, dopts...)
	if err != nil {
		return fmt.Errorf("xds: dial %s: %w", c.opts.Server, err)
	}
	defer conn.Close()
	c.mu.Lock()
	c.wake = time.NewTimer(time.Hour)
	c.wake.Stop()
	// Start the initial-fetch clock now, so static resources serve after
	// WarmTimeout even if the management server never answers (Envoy's
	// initialization waits the same way).
	c.reevaluate()
	c.mu.Unlock()
	attempt := 0
	for first := true; ; first = false {
		if !first {
			c.m.reconnects.Inc()
			c.mu.Lock()
			c.st.Reconnects++
			c.mu.Unlock()
		}
		progressed, err := c.session(ctx, conn)
		c.m.connected.Set(0)
		c.mu.Lock()
		c.st.Connected, c.st.ConnectedSince = false, nil
		if err != nil {
			c.st.LastError = err.Error()
		}
		c.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			attempt = 0
		}
		d := backoff(c.opts.BackoffBase, c.opts.BackoffMax, attempt)
		attempt++
		c.log.Warn("ADS stream ended; reconnecting", "error", err, "in", d)
		wait := time.NewTimer(d)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				wait.Stop()
				return nil
			case <-wait.C:
				waiting = false
			case <-c.wake.C:
				c.mu.Lock()
				c.reevaluate()
				c.mu.Unlock()
			}
		}
	}
}

// reevaluate applies the set in force if a wait has run out. Called with
// c.mu held.
func (c *Client) reevaluate() {
	if err := c.tryApply(c.set, nil); err != nil {
		c.log.Error("config from xDS rejected after warming gave up; the previous config keeps serving", "error", err)
	}
}

// maxResponse bounds one xDS response.
const maxResponse = 256 << 20

// backoff is exponential with equal jitter: half the step fixed, half
// random, so clients spread out but never retry at once.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 20)
	if d > max || d <= 0 {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// stream is the part of an ADS stream the session needs, for either
// protocol.
type stream interface {
	// subscribe sends the request for typ with its current names (the
	// initial one on a new stream when initial is set).
	subscribe(typ string, initial bool) error
	recv() (any, error)
	handle(msg any) error
	// sendDelayed sends a request built earlier (a throttled NACK).
	sendDelayed(req any) error
}

// session runs one stream; progressed reports whether a response came.
func (c *Client) session(ctx context.Context, conn *grpc.ClientConn) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	var s stream
	if c.opts.Delta {
		ds, err := ads.DeltaAggregatedResources(sctx)
		if err != nil {
			return false, fmt.Errorf("open delta ADS stream: %w", err)
		}
		s = &deltaStream{c: c, s: ds}
	} else {
		ss, err := ads.StreamAggregatedResources(sctx)
		if err != nil {
			return false, fmt.Errorf("open ADS stream: %w", err)
		}
		s = &sotwStream{c: c, s: ss}
	}
	c.mu.Lock()
	for _, ts := range c.types {
		ts.sent = false
	}
	// Envoy's order: clusters (then their endpoints), then listeners
	// (then their routes).
	for _, t := range typeOrder {
		if err := s.subscribe(t, true); err != nil {
			c.mu.Unlock()
			return false, err
		}
	}
	c.mu.Unlock()
	type result struct {
		msg any
		err error
	}
	msgs := make(chan result, 1)
	go func() {
		for {
			m, err := s.recv()
			select {
			case msgs <- result{m, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	delayed := make(chan any, 4)
	for {
		select {
		case <-ctx.Done():
			return progressed, ctx.Err()
		case r := <-msgs:
			if r.err != nil {
				return progressed, fmt.Errorf("ADS stream: %w", r.err)
			}
			if !progressed {
				progressed = true
				now := time.Now()
				c.mu.Lock()
				c.st.Connected, c.st.ConnectedSince, c.st.LastError = true, &now, ""
				c.mu.Unlock()
				c.m.connected.Set(1)
				c.log.Info("ADS stream up", "server", c.opts.Server, "delta", c.opts.Delta)
			}
			c.mu.Lock()
			err := s.handle(r.msg)
			c.mu.Unlock()
			if err != nil {
				return progressed, err
			}
			c.sendThrottled(sctx, delayed)
		case req := <-delayed:
			c.mu.Lock()
			err := s.sendDelayed(req)
			c.mu.Unlock()
			if err != nil {
				return progressed, err
			}
		case <-c.wake.C:
			c.mu.Lock()
			c.reevaluate()
			c.mu.Unlock()
		}
	}
}

// sendThrottled sends the NACKs the last handle deferred after their
// delay, off the loop, through out.
func (c *Client) sendThrottled(ctx context.Context, out chan<- any) {
	c.mu.Lock()
	reqs := c.deferred
	c.deferred = nil
	c.mu.Unlock()
	for _, d := range reqs {
		go func() {
			select {
			case <-time.After(d.after):
				select {
				case out <- d.req:
				case <-ctx.Done():
				}
			case <-ctx.Done():
			}
		}()
	}
}

type deferredReq struct {
	after time.Duration
	req   any
}

// nackDelay is how long to hold a NACK: nothing the first time, then
// doubling, so a control plane that resends a rejected version at once
// does not spin.
func nackDelay(repeats int) time.Duration {
	if repeats == 0 {
		return 0
	}
	return min(50*time.Millisecond<<min(repeats, 10), 10*time.Second)
}

// update applies one response's resources to a copy of the set; on
// success the copy becomes the set. err is the NACK's error_detail.
// Called with c.mu held.
func (c *Client) update(typ string, res []namedAny, removed []string, full bool, version string) error {
	next := c.set.Clone()
	t := &translate.T{}
	if full {
		switch typ {
		case TypeListener:
			next.Listeners = map[string]*translate.Listener{}
			for n, l := range c.static.set.Listeners {
				next.Listeners[n] = l
			}
		case TypeCluster:
			next.Clusters = map[string]*translate.Cluster{}
			for n, cl := range c.static.set.Clusters {
				next.Clusters[n] = cl
			}
		}
	}
	for _, n := range removed {
		switch typ {
		case TypeListener:
			if !c.static.listeners[n] {
				delete(next.Listeners, n)
			}
		case TypeCluster:
			if !c.static.clusters[n] {
				delete(next.Clusters, n)
			}
		case TypeRoute:
			delete(next.Routes, n)
		case TypeEndpoint:
			delete(next.Endpoints, n)
		}
	}
	var errs []error
	for _, r := range res {
		m, err := r.any.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("resource %q: %w", r.name, err))
			continue
		}
		if w, ok := m.(*discoveryv3.Resource); ok {
			if m, err = w.GetResource().UnmarshalNew(); err != nil {
				errs = append(errs, fmt.Errorf("resource %q: %w", r.name, err))
				continue
			}
		}
		if got := resourceType(m); got != typ {
			errs = append(errs, fmt.Errorf("resource %q is a %s in a %s response", r.name, got, typ))
			continue
		}
		if n := resourceName(m); (typ == TypeListener && c.static.listeners[n]) || (typ == TypeCluster && c.static.clusters[n]) {
			errs = append(errs, fmt.Errorf("%s %q is also in the bootstrap's static_resources; static resources cannot be replaced", shortName[typ], n))
			continue
		}
		if err := addResource(t, next, m); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Drop what no listener or cluster names any more.
	for n := range next.Routes {
		if !slices.Contains(next.RouteNames(), n) && c.static.set.Routes[n] == nil {
			delete(next.Routes, n)
		}
	}
	for n := range next.Endpoints {
		if !slices.Contains(next.EndpointNames(), n) && c.static.set.Endpoints[n] == nil {
			delete(next.Endpoints, n)
		}
	}
	ts := c.types[typ]
	prev, prevReceived := ts.version, ts.received
	ts.version, ts.received = version, true
	if err := c.tryApply(next, t.Warnings); err != nil {
		ts.version, ts.received = prev, prevReceived
		return err
	}
	c.set = next
	return nil
}

type namedAny struct {
	name string
	any  interface {
		UnmarshalNew() (proto.Message, error)
	}
}

// tryApply assembles next and hands it to Apply when nothing is missing,
// or when what is missing has waited long enough. Called with c.mu held.
func (c *Client) tryApply(next *translate.Set, warnings []string) error {
	for _, w := range warnings {
		c.warn(w)
	}
	now := time.Now()
	miss := next.Missing()
	keys := map[string]time.Duration{}
	for _, n := range miss.Endpoints {
		keys["eds/"+n] = c.opts.WarmTimeout
	}
	for _, n := range miss.Routes {
		keys["rds/"+n] = c.opts.WarmTimeout
	}
	for _, n := range miss.Clusters {
		keys["cds/"+n] = c.opts.MissingClusterGrace
	}
	for _, t := range []string{TypeCluster, TypeListener} {
		if !c.types[t].received {
			keys["first/"+shortName[t]] = c.opts.WarmTimeout
		}
	}
	for k := range c.pendingSince {
		if _, ok := keys[k]; !ok {
			delete(c.pendingSince, k)
		}
	}
	var wait time.Duration
	for k, limit := range keys {
		since, ok := c.pendingSince[k]
		if !ok {
			since = now
			c.pendingSince[k] = now
		}
		if left := limit - now.Sub(since); left > 0 && (wait == 0 || left < wait) {
			wait = left
		}
	}
	c.st.Waiting = Waiting(miss)
	if wait > 0 {
		if c.wake != nil {
			c.wake.Reset(wait)
		}
		return nil
	}
	cfg, warns, err := next.Assemble(c.opts.Base)
	if err != nil {
		return err
	}
	for _, w := range warns {
		c.warn(w)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if c.lastJSON != nil && string(b) == string(c.lastJSON) {
		return nil
	}
	if ps := conf.Validate(cfg); len(ps) > 0 {
		c.m.applies.WithLabelValues("failure").Inc()
		c.st.LastApplyError = ps.Error()
		return fmt.Errorf("the config translated from xDS is invalid: %w", ps)
	}
	version := c.version()
	if err := c.opts.Apply(cfg, version); err != nil {
		c.m.applies.WithLabelValues("failure").Inc()
		c.st.LastApplyError = err.Error()
		return fmt.Errorf("the data plane rejected the config: %w", err)
	}
	c.m.applies.WithLabelValues("success").Inc()
	c.lastJSON = b
	c.st.AppliedVersion, c.st.AppliedAt, c.st.LastApplyError = version, &now, ""
	c.log.Info("config from xDS applied", "version", version, "listeners", len(cfg.Listeners), "clusters", len(cfg.Clusters))
	return nil
}

// maxWarnings bounds the warnings kept for the status.
const maxWarnings = 100

// warn logs a warning the first time it is seen and keeps the latest
// distinct ones for the status, so a control plane that resends the same
// resources does not flood the log. Called with c.mu held.
func (c *Client) warn(w string) {
	if i := slices.Index(c.warnings, w); i >= 0 {
		return
	}
	c.log.Warn("xDS config partly ignored", "detail", w)
	c.warnings = append(c.warnings, w)
	if len(c.warnings) > maxWarnings {
		c.warnings = c.warnings[len(c.warnings)-maxWarnings:]
	}
}

// version names a config by the version of each type in it.
func (c *Client) version() string {
	v := ""
	for _, t := range typeOrder {
		if c.types[t].version == "" {
			continue // a type not in use (no EDS clusters, no RDS)
		}
		if v != "" {
			v += ","
		}
		v += shortName[t] + "=" + c.types[t].version
	}
	if v == "" {
		v = "xds-empty"
	}
	return v
}

// ack records an accepted response. Called with c.mu held.
func (c *Client) ack(typ, nonce string) {
	ts := c.types[typ]
	ts.nonce = nonce
	ts.acks++
	ts.nackRepeats = 0
	c.m.responses.WithLabelValues(shortName[typ], "ack").Inc()
}

// nack records a rejected response and returns how long to hold the NACK.
// Called with c.mu held.
func (c *Client) nack(typ, version, nonce string, err error) time.Duration {
	ts := c.types[typ]
	ts.nonce = nonce
	ts.nacks++
	if ts.lastNACK != nil && ts.lastNACK.Version == version && version != "" {
		ts.nackRepeats++
	} else {
		ts.nackRepeats = 0
	}
	ts.lastNACK = &NACK{At: time.Now(), Version: version, Nonce: nonce, Error: err.Error()}
	c.m.responses.WithLabelValues(shortName[typ], "nack").Inc()
	c.log.Error("xDS update rejected (NACK); the previous config keeps serving", "type", shortName[typ], "version", version, "error", err)
	return nackDelay(ts.nackRepeats)
}

// wanted is the names typ subscribes to: nil for the wildcard types.
func (c *Client) wanted(typ string) []string {
	switch typ {
	case TypeRoute:
		return c.set.RouteNames()
	case TypeEndpoint:
		return c.set.EndpointNames()
	}
	return nil
}
