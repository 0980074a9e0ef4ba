package conf

import (
	"fmt"

	"github.com/wasmesh/wasmesh/identity/authz"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LBPolicies are the load-balancing policy names a cluster may use.
var LBPolicies = []string{"round_robin", "weighted", "least_request", "random", "ring_hash", "maglev"}

// RetryOn are the retry conditions a route may name (Envoy's retry_on).
var RetryOn = []string{"5xx", "gateway-error", "reset", "connect-failure", "retriable-status-codes",
	"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}

// Protocols a listener may speak, and protocols an upstream may speak.
var (
	ListenerProtocols = []string{"auto", "http1", "http2"}
	ClusterProtocols  = []string{"http1", "http2", "grpc"}
)

// Defaults used when a field is left out. They follow Envoy's where Envoy
// has one that makes sense for a sidecar.
const (
	DefaultAdminAddress   = "127.0.0.1:9901"
	DefaultConnectTimeout = Duration(5 * time.Second)
	DefaultRouteTimeout   = Duration(15 * time.Second)
	DefaultDrainTimeout   = Duration(15 * time.Second)
	DefaultDrainGrace     = Duration(2 * time.Second)
	DefaultBackoffBase    = Duration(25 * time.Millisecond)
	DefaultHCInterval     = Duration(5 * time.Second)
	DefaultHCTimeout      = Duration(time.Second)
	DefaultEjection       = Duration(30 * time.Second)
	DefaultOutlierPeriod  = Duration(10 * time.Second)
	DefaultBreakerLimit   = 1024
	DefaultMaxRetries     = 3
)

// SetDefaults fills every left-out field with its default, so the data
// plane never has to guess. It is idempotent.
func (c *Config) SetDefaults() {
	if c.Admin.Address == "" {
		c.Admin.Address = DefaultAdminAddress
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.DrainGrace == 0 {
		c.DrainGrace = min(DefaultDrainGrace, c.DrainTimeout/2)
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Protocol == "" {
			l.Protocol = "auto"
		}
		for j := range l.Routes {
			l.Routes[j].setDefaults()
		}
		for j := range l.VirtualHosts {
			for k := range l.VirtualHosts[j].Routes {
				l.VirtualHosts[j].Routes[k].setDefaults()
			}
		}
	}
	for i := range c.Subscriptions {
		sub := &c.Subscriptions[i]
		if sub.Group == "" {
			sub.Group = sub.Name
		}
		if sub.MaxAttempts == 0 {
			sub.MaxAttempts = 5
		}
		if sub.Backoff.Base == 0 {
			sub.Backoff.Base = Duration(100 * time.Millisecond)
		}
		if sub.Backoff.Max == 0 {
			sub.Backoff.Max = Duration(5 * time.Second)
		}
		if sub.DeadLetterTopic == "" && sub.Topic != "" {
			sub.DeadLetterTopic = sub.Topic + ".dlq"
		}
		if sub.Concurrency == 0 {
			sub.Concurrency = 1
			if !sub.Ordered {
				sub.Concurrency = 4
			}
		}
		if sub.Timeout == 0 {
			sub.Timeout = Duration(10 * time.Second)
		}
		if sub.Start == "" {
			sub.Start = "earliest"
		}
	}
	if sv := c.Service; sv != nil {
		if sv.ID == "" {
			sv.ID = fmt.Sprintf("%s-%s-%d", sv.Name, sv.Address, sv.Port)
		}
		if hc := sv.HealthCheck; hc != nil {
			if hc.Interval == 0 {
				hc.Interval = DefaultHCInterval
			}
			if hc.Timeout == 0 {
				hc.Timeout = min(DefaultHCTimeout, hc.Interval)
			}
			if hc.UnhealthyThreshold == 0 {
				hc.UnhealthyThreshold = 2
			}
			if hc.HealthyThreshold == 0 {
				hc.HealthyThreshold = 1
			}
		}
	}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if cl.LB == "" {
			cl.LB = "round_robin"
		}
		if cl.Protocol == "" {
			cl.Protocol = "http1"
		}
		if cl.ConnectTimeout == 0 {
			cl.ConnectTimeout = DefaultConnectTimeout
		}
		for j := range cl.Endpoints {
			if cl.Endpoints[j].Weight == 0 {
				cl.Endpoints[j].Weight = 1
			}
		}
		if hc := cl.HealthCheck; hc != nil {
			if hc.Interval == 0 {
				hc.Interval = DefaultHCInterval
			}
			if hc.Timeout == 0 {
				hc.Timeout = min(DefaultHCTimeout, hc.Interval)
			}
			if hc.UnhealthyThreshold == 0 {
				hc.UnhealthyThreshold = 2
			}
			if hc.HealthyThreshold == 0 {
				hc.HealthyThreshold = 1
			}
		}
		if od := cl.OutlierDetection; od != nil {
			if od.Interval == 0 {
				od.Interval = DefaultOutlierPeriod
			}
			if od.BaseEjectionTime == 0 {
				od.BaseEjectionTime = DefaultEjection
			}
			if od.MaxEjectionPercent == 0 {
				od.MaxEjectionPercent = 10
			}
		}
		if cl.CircuitBreaker == nil {
			cl.CircuitBreaker = &CircuitBreaker{}
		}
		cb := cl.CircuitBreaker
		if cb.MaxConnections == 0 {
			cb.MaxConnections = DefaultBreakerLimit
		}
		if cb.MaxPending == 0 {
			cb.MaxPending = DefaultBreakerLimit
		}
		if cb.MaxRequests == 0 {
			cb.MaxRequests = DefaultBreakerLimit
		}
		if cb.MaxRetries == 0 {
			cb.MaxRetries = DefaultMaxRetries
		}
		if cl.RetryBudget == nil {
			cl.RetryBudget = &RetryBudget{Percent: 20, MinConcurrency: 3}
		}
	}
}

func (r *Route) setDefaults() {
	if r.Match.Prefix == "" && r.Match.Path == "" && r.Match.Regex == "" {
		r.Match.Prefix = "/"
	}
	if r.Timeout == 0 && r.DirectResponse == nil && r.Redirect == nil {
		r.Timeout = DefaultRouteTimeout
	}
	if rt := r.Retry; rt != nil {
		if len(rt.On) == 0 {
			rt.On = []string{"connect-failure", "reset"}
		}
		if rt.Backoff.Base == 0 {
			rt.Backoff.Base = DefaultBackoffBase
		}
		if rt.Backoff.Max == 0 {
			rt.Backoff.Max = rt.Backoff.Base * 10
		}
	}
	if r.Redirect != nil && r.Redirect.Status == 0 {
		r.Redirect.Status = 301
	}
}

// Validate checks a config from any source (YAML, xDS, Envoy bootstrap)
// after SetDefaults. Problems carry field paths; file and line are filled
// in by Load when the config came from a file.
func Validate(c *Config) Problems {
	src := &Source{Config: c, pos: map[string]position{}}
	return src.validate()
}

type checker struct {
	src        *Source
	probs      Problems
	brokers    map[string]bool
	bnames     []string
	registries map[string]bool
	rnames     []string
	eventlog   bool
}

func (k *checker) registryHint(name string) string {
	if s := Suggest(name, k.rnames); s != "" {
		return fmt.Sprintf("did you mean %q? or define it under registries", s)
	}
	return "define it under registries"
}

func (k *checker) brokerHint(name string) string {
	if s := Suggest(name, k.bnames); s != "" {
		return fmt.Sprintf("did you mean %q? or define it under brokers", s)
	}
	return "define it under brokers"
}

func (k *checker) add(field, msg, hint string) {
	p := Problem{Field: field, Msg: msg, Hint: hint}
	if pos, ok := k.src.pos[field]; ok {
		p.File, p.Line = pos.file, pos.line
	} else {
		// Point at the closest enclosing field that has a position.
		for f := field; f != ""; {
			i := strings.LastIndexAny(f, ".[")
			if i <= 0 {
				break
			}
			f = f[:i]
			if pos, ok := k.src.pos[f]; ok {
				p.File, p.Line = pos.file, pos.line
				break
			}
		}
	}
	if p.File == "" && len(k.src.Files) > 0 {
		p.File = k.src.Files[0]
	}
	k.probs = append(k.probs, p)
}

func key(name string, i int) string {
	if name != "" {
		return name
	}
	return strconv.Itoa(i)
}

func (s *Source) validate() Problems {
	c := s.Config
	c.SetDefaults()
	k := &checker{src: s, brokers: map[string]bool{}, registries: map[string]bool{}, eventlog: c.EventLog != nil}
	k.admin(c)
	k.mesh(c)
	if tr := c.Tracing; tr != nil {
		if checkHostPort(tr.OTLPEndpoint) != nil {
			k.add("tracing.otlp_endpoint", fmt.Sprintf("%q is not host:port", tr.OTLPEndpoint), "for example 127.0.0.1:4317")
		}
		if tr.Protocol != "" && tr.Protocol != "grpc" && tr.Protocol != "http" {
			k.add("tracing.protocol", fmt.Sprintf("unknown protocol %q", tr.Protocol), "grpc or http")
		}
		if r := tr.SamplingRatio; r != nil && (*r < 0 || *r > 1) {
			k.add("tracing.sampling_ratio", fmt.Sprintf("%g is not a ratio", *r), "use 0 to 1")
		}
	}
	for _, p := range authz.Validate("authorization", c.Authorization) {
		k.add(p.Field, p.Msg, p.Hint)
	}
	if a := c.Audit; a != nil && a.Broker != "" && a.Topic == "" {
		k.add("audit.topic", "audit names a broker but no topic", "topic: audit.denials")
	}
	if c.EventLog != nil {
		if err := c.EventLog.Validate(); err != nil {
			k.add("eventlog", err.Error(), "backend: file with file.dir, or backend: postgres with postgres.dsn")
		}
	}
	for i, r := range c.Registries {
		path := fmt.Sprintf("registries[%s]", key(r.Name, i))
		switch {
		case r.Name == "":
			k.add(path+".name", "a registry needs a name", "clusters and the service refer to registries by name")
		case k.registries[r.Name]:
			k.add(path+".name", fmt.Sprintf("registry %q is defined twice", r.Name), "")
		case r.Backend == "":
			k.add(path+".backend", "a registry needs a backend", "etcd, consul, kubernetes or static")
		}
		k.registries[r.Name] = true
		k.rnames = append(k.rnames, r.Name)
	}
	if sv := c.Service; sv != nil {
		if sv.Name == "" || sv.Address == "" || sv.Port <= 0 || sv.Port > 65535 {
			k.add("service", "service needs name, address and port", "the app's own address, e.g. {name: web, address: 127.0.0.1, port: 8080}")
		}
		if len(sv.Registries) == 0 {
			k.add("service.registries", "service names no registry to register in", "registries: [NAME]")
		}
		for _, n := range sv.Registries {
			if !k.registries[n] {
				k.add("service.registries", fmt.Sprintf("service registers in %q, which does not exist", n), k.registryHint(n))
			}
		}
		if hc := sv.HealthCheck; hc != nil && !strings.HasPrefix(hc.Path, "/") {
			k.add("service.health_check.path", "health check path must start with /", "for example /healthz")
		}
	}
	for i, b := range c.Brokers {
		path := fmt.Sprintf("brokers[%s]", key(b.Name, i))
		switch {
		case b.Name == "":
			k.add(path+".name", "a broker needs a name", "routes and subscriptions refer to brokers by name")
		case k.brokers[b.Name]:
			k.add(path+".name", fmt.Sprintf("broker %q is defined twice", b.Name), "")
		case b.Type == "":
			k.add(path+".type", "a broker needs a type", "memory, redis, rabbitmq or kafka")
		}
		k.brokers[b.Name] = true
		k.bnames = append(k.bnames, b.Name)
	}
	clusters := map[string]*Cluster{}
	var clusterNames []string
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		path := fmt.Sprintf("clusters[%s]", key(cl.Name, i))
		if cl.Name == "" {
			k.add(path+".name", "a cluster needs a name", "routes refer to clusters by name")
			continue
		}
		if _, dup := clusters[cl.Name]; dup {
			k.add(path+".name", fmt.Sprintf("cluster %q is defined twice", cl.Name), "rename one, or merge their endpoints")
			continue
		}
		clusters[cl.Name] = cl
		clusterNames = append(clusterNames, cl.Name)
		k.cluster(path, cl)
	}
	addrs := map[string]string{}
	names := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		path := fmt.Sprintf("listeners[%s]", key(l.Name, i))
		if l.Name == "" {
			k.add(path+".name", "a listener needs a name", "names appear in metrics and logs")
		} else if names[l.Name] {
			k.add(path+".name", fmt.Sprintf("listener %q is defined twice", l.Name), "give each listener its own name")
		}
		names[l.Name] = true
		if err := checkHostPort(l.Address); err != nil {
			k.add(path+".address", err.Error(), "write it as host:port, e.g. 127.0.0.1:10000")
		} else if other, dup := addrs[l.Address]; dup {
			k.add(path+".address", fmt.Sprintf("address %s is already used by listener %q", l.Address, other), "pick another port, or put both route sets in one listener as virtual_hosts")
		} else {
			addrs[l.Address] = l.Name
		}
		k.oneOf(path+".protocol", "protocol", l.Protocol, ListenerProtocols)
		if t := l.TLS; t != nil {
			if t.CertFile == "" || t.KeyFile == "" {
				k.add(path+".tls", "tls needs cert_file and key_file", "point them at a PEM certificate and its key")
			}
			if t.RequireClientCert && t.ClientCAFile == "" {
				k.add(path+".tls.require_client_cert", "require_client_cert needs client_ca_file", "name the CA bundle that client certificates must chain to")
			}
		}
		if len(l.Routes) == 0 && len(l.VirtualHosts) == 0 {
			k.add(path+".routes", "listener has no routes", "add routes, or virtual_hosts with routes")
		}
		filters := map[string]bool{}
		for j, f := range l.Filters {
			fp := fmt.Sprintf("%s.filters[%s]", path, key(f.Name, j))
			if f.Name == "" {
				k.add(fp+".name", "a filter needs a name", "routes refer to filters by name")
			}
			if f.Wasm == "" {
				k.add(fp+".wasm", "a filter needs a wasm module path", "for example build/filters/jwt-auth.wasm")
			}
			filters[f.Name] = true
		}
		for j := range l.Routes {
			k.route(fmt.Sprintf("%s.routes[%s]", path, key(l.Routes[j].Name, j)), &l.Routes[j], clusters, clusterNames, filters)
		}
		domains := map[string]string{}
		for j := range l.VirtualHosts {
			vh := &l.VirtualHosts[j]
			vp := fmt.Sprintf("%s.virtual_hosts[%s]", path, key(vh.Name, j))
			if len(vh.Domains) == 0 {
				k.add(vp+".domains", "a virtual host needs domains", `use ["*"] to match any host`)
			}
			for _, d := range vh.Domains {
				if other, dup := domains[d]; dup {
					k.add(vp+".domains", fmt.Sprintf("domain %q is also in virtual host %q", d, other), "each domain may appear in one virtual host")
				}
				domains[d] = vh.Name
			}
			for r := range vh.Routes {
				k.route(fmt.Sprintf("%s.routes[%s]", vp, key(vh.Routes[r].Name, r)), &vh.Routes[r], clusters, clusterNames, filters)
			}
		}
	}
	if a := c.Audit; a != nil && a.Broker != "" && !k.brokers[a.Broker] {
		k.add("audit.broker", fmt.Sprintf("audit publishes to broker %q, which does not exist", a.Broker), k.brokerHint(a.Broker))
	}
	for i := range c.Subscriptions {
		k.subscription(fmt.Sprintf("subscriptions[%s]", key(c.Subscriptions[i].Name, i)), &c.Subscriptions[i], names)
	}
	return k.probs
}

func (k *checker) subscription(path string, sub *Subscription, listeners map[string]bool) {
	if sub.Name == "" {
		k.add(path+".name", "a subscription needs a name", "it names the consumer in metrics and logs")
	}
	if !k.brokers[sub.Broker] {
		k.add(path+".broker", fmt.Sprintf("subscription reads broker %q, which does not exist", sub.Broker), k.brokerHint(sub.Broker))
	}
	if sub.Topic == "" {
		k.add(path+".topic", "a subscription needs a topic", "")
	}
	if !listeners[sub.Deliver.Listener] {
		k.add(path+".deliver.listener", fmt.Sprintf("deliveries go to listener %q, which does not exist", sub.Deliver.Listener), "name one of the listeners: deliveries pass its routes and filters")
	}
	if !strings.HasPrefix(sub.Deliver.Path, "/") {
		k.add(path+".deliver.path", fmt.Sprintf("delivery path %q must start with /", sub.Deliver.Path), "for example /events/orders")
	}
	if sub.Start != "" && sub.Start != "earliest" && sub.Start != "latest" {
		k.add(path+".start", fmt.Sprintf("unknown start %q", sub.Start), "use earliest or latest")
	}
	if sub.MaxAttempts < 0 || sub.Concurrency < 0 {
		k.add(path, "max_attempts and concurrency must not be negative", "")
	}
	if sub.Ordered && sub.Concurrency > 1 {
		k.add(path+".concurrency", "ordered delivery handles one message at a time", "drop concurrency, or ordered")
	}
}

var mtlsModes = []string{"", "strict", "permissive", "off"}

func effectiveMTLS(c *Config, override string) string {
	if override != "" {
		return override
	}
	if c.Mesh != nil && c.Mesh.MTLS != "" {
		return c.Mesh.MTLS
	}
	return "off"
}

// mesh checks the mesh identity and turns the mTLS modes into the
// listeners' and clusters' TLS settings, so the data plane has one TLS
// path whichever way it was asked for.
func (k *checker) mesh(c *Config) {
	m := c.Mesh
	if m != nil {
		if !slices.Contains(mtlsModes, m.MTLS) {
			k.add("mesh.mtls", fmt.Sprintf("unknown mtls mode %q", m.MTLS), "strict, permissive or off")
		}
		if m.TrustDomain == "" || m.CertFile == "" || m.KeyFile == "" || m.CAFile == "" {
			k.add("mesh", "mesh needs trust_domain, cert_file, key_file and ca_file", "meshctl certs init writes a development set")
		}
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if mode, ok := k.meshMode(c, fmt.Sprintf("listeners[%s].mtls", key(l.Name, i)), l.MTLS, l.TLS != nil); ok {
			l.TLS = &ListenerTLS{CertFile: m.CertFile, KeyFile: m.KeyFile, ClientCAFile: m.CAFile, TrustDomain: m.TrustDomain,
				RequireClientCert: mode == "strict", AcceptPlaintext: mode == "permissive"}
		}
	}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if _, ok := k.meshMode(c, fmt.Sprintf("clusters[%s].mtls", key(cl.Name, i)), cl.MTLS, cl.TLS != nil); ok {
			cl.TLS = &UpstreamTLS{CAFile: m.CAFile, CertFile: m.CertFile, KeyFile: m.KeyFile, TrustDomain: m.TrustDomain}
		}
	}
}

// meshMode checks a listener's or cluster's own mtls and says whether the
// mesh identity must be applied to it (mode strict or permissive, and no
// tls block of its own), with the mode in force.
func (k *checker) meshMode(c *Config, field, override string, ownTLS bool) (string, bool) {
	if !slices.Contains(mtlsModes, override) {
		k.add(field, fmt.Sprintf("unknown mtls mode %q", override), "strict, permissive or off")
		return "", false
	}
	mode := effectiveMTLS(c, override)
	if mode == "off" || ownTLS {
		return mode, false
	}
	if c.Mesh == nil {
		k.add(field, "mtls needs the mesh identity", "add mesh: {trust_domain, cert_file, key_file, ca_file}")
		return mode, false
	}
	return mode, true
}

func (k *checker) admin(c *Config) {
	host, _, err := net.SplitHostPort(c.Admin.Address)
	if err != nil || checkHostPort(c.Admin.Address) != nil {
		k.add("admin.address", fmt.Sprintf("%q is not host:port", c.Admin.Address), "the default is "+DefaultAdminAddress)
		return
	}
	ip := net.ParseIP(host)
	loop := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loop && !c.Admin.AllowNonLoopback {
		k.add("admin.address", fmt.Sprintf("admin API on non-loopback address %s", c.Admin.Address), "the admin API can reload and drain meshd: keep it on 127.0.0.1, or set admin.allow_non_loopback: true")
	}
}

func checkHostPort(a string) error {
	if a == "" {
		return fmt.Errorf("address is missing")
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has a bad port", a)
	}
	return nil
}

func (k *checker) oneOf(field, what, v string, allowed []string) {
	if slices.Contains(allowed, v) {
		return
	}
	hint := "allowed: " + strings.Join(allowed, ", ")
	if s := Suggest(v, allowed); s != "" {
		hint = fmt.Sprintf("did you mean %q? %s", s, hint)
	}
	k.add(field, fmt.Sprintf("unknown %s %q", what, v), hint)
}

func (k *checker) cluster(path string, cl *Cluster) {
	k.oneOf(path+".protocol", "protocol", cl.Protocol, ClusterProtocols)
	if t := cl.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		k.add(path+".tls", "cert_file and key_file go together", "set both for mTLS to the upstream, or neither")
	}
	if !slices.Contains(LBPolicies, cl.LB) {
		hint := "allowed: " + strings.Join(LBPolicies, ", ")
		if s := Suggest(cl.LB, LBPolicies); s != "" {
			hint = fmt.Sprintf("did you mean %q? allowed: %s", s, strings.Join(LBPolicies, ", "))
		}
		k.add(path+".lb", fmt.Sprintf("unknown load-balancing policy %q", cl.LB), hint)
	}
	if (cl.LB == "ring_hash" || cl.LB == "maglev") && (cl.Hash == nil || (cl.Hash.Header == "" && cl.Hash.Cookie == "" && !cl.Hash.SourceIP)) {
		k.add(path+".lb", cl.LB+" needs a hash key", "add hash: {header: x-user-id} (or cookie: NAME, or source_ip: true)")
	}
	if t := cl.Token; t != nil {
		n := 0
		if t.File != "" {
			n++
		}
		if t.ClientCredentials != nil {
			n++
			if t.ClientCredentials.TokenURL == "" || t.ClientCredentials.ClientID == "" {
				k.add(path+".token.client_credentials", "client_credentials needs token_url and client_id", "")
			}
		}
		if t.SelfSigned != nil {
			n++
			if t.SelfSigned.Issuer == "" {
				k.add(path+".token.self_signed.issuer", "a self-signed token needs an issuer", "the URL receivers trust, e.g. where this meshd serves its JWKS")
			}
		}
		if n != 1 {
			k.add(path+".token", "token needs exactly one of file, client_credentials and self_signed", "")
		}
	}
	if d := cl.Discovery; d != nil {
		if d.Service == "" {
			k.add(path+".discovery.service", "discovery needs a service name", "")
		}
		if (d.Backend == "") == (len(d.Backends) == 0) {
			k.add(path+".discovery", "discovery needs one of backend and backends", "backend: NAME, or backends: [A, B] to merge several")
		}
		for _, n := range d.Names() {
			if !k.registries[n] {
				k.add(path+".discovery", fmt.Sprintf("cluster reads registry %q, which does not exist", n), k.registryHint(n))
			}
		}
	} else if len(cl.Endpoints) == 0 {
		k.add(path+".endpoints", "cluster has no endpoints", "add endpoints: [{address: 127.0.0.1:8080}], or discovery: {backend: NAME, service: NAME}")
	}
	seen := map[string]bool{}
	for i, e := range cl.Endpoints {
		ep := fmt.Sprintf("%s.endpoints[%d]", path, i)
		if err := checkHostPort(e.Address); err != nil {
			k.add(ep+".address", err.Error(), "write it as host:port")
		}
		if seen[e.Address] {
			k.add(ep+".address", fmt.Sprintf("endpoint %s is listed twice", e.Address), "use weight to send it more traffic")
		}
		seen[e.Address] = true
		if e.Weight < 0 || e.Weight > 1000 {
			k.add(ep+".weight", fmt.Sprintf("weight %d is out of range", e.Weight), "use 1 to 1000")
		}
	}
	if hc := cl.HealthCheck; hc != nil {
		if hc.GRPC && cl.Protocol != "grpc" && cl.Protocol != "http2" {
			k.add(path+".health_check.grpc", "gRPC health checks need an HTTP/2 cluster", "set protocol: grpc on the cluster")
		}
		if !hc.GRPC && !strings.HasPrefix(hc.Path, "/") {
			k.add(path+".health_check.path", fmt.Sprintf("health check path %q must start with /", hc.Path), "for example /healthz")
		}
		if hc.Timeout > hc.Interval {
			k.add(path+".health_check.timeout", "health check timeout is longer than its interval", "make the timeout shorter than the interval")
		}
	}
	if p := cl.LBPanicThreshold; p != nil && (*p < 0 || *p > 100) {
		k.add(path+".lb_panic_threshold", fmt.Sprintf("%d is not a percentage", *p), "use 0 to 100 (default 50; 0: panic only when no endpoint is available)")
	}
	if od := cl.OutlierDetection; od != nil && (od.MaxEjectionPercent < 0 || od.MaxEjectionPercent > 100) {
		k.add(path+".outlier_detection.max_ejection_percent", fmt.Sprintf("%d is not a percentage", od.MaxEjectionPercent), "use 0 to 100")
	}
	cb := cl.CircuitBreaker
	for name, v := range map[string]int{"max_connections": cb.MaxConnections, "max_pending": cb.MaxPending, "max_requests": cb.MaxRequests, "max_retries": cb.MaxRetries} {
		if v < 0 {
			k.add(path+".circuit_breaker."+name, "must not be negative", "")
		}
	}
	if rb := cl.RetryBudget; rb.Percent < 0 || rb.Percent > 100 {
		k.add(path+".retry_budget.percent", fmt.Sprintf("%g is not a percentage", rb.Percent), "use 0 to 100")
	}
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func (k *checker) route(path string, r *Route, clusters map[string]*Cluster, names []string, filters map[string]bool) {
	m := r.Match
	n := 0
	for _, s := range []string{m.Prefix, m.Path, m.Regex} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		k.add(path+".match", "match has more than one of prefix, path and regex", "keep one: path is exact, prefix matches the start, regex the whole path")
	}
	if m.Regex != "" {
		if _, err := regexp.Compile(m.Regex); err != nil {
			k.add(path+".match.regex", "regex does not compile: "+err.Error(), "the syntax is Go's RE2")
		}
	}
	for _, p := range []string{m.Prefix, m.Path} {
		if p != "" && !strings.HasPrefix(p, "/") {
			k.add(path+".match", fmt.Sprintf("path %q must start with /", p), "")
		}
	}
	for _, meth := range m.Methods {
		if !slices.Contains(httpMethods, strings.ToUpper(meth)) {
			k.add(path+".match.methods", fmt.Sprintf("unknown HTTP method %q", meth), "allowed: "+strings.Join(httpMethods, ", "))
		}
	}
	actions := 0
	if r.Cluster != "" {
		actions++
	}
	if len(r.WeightedClusters) > 0 {
		actions++
	}
	if r.DirectResponse != nil {
		actions++
	}
	if r.Redirect != nil {
		actions++
	}
	if r.JWKS != nil {
		actions++
	}
	if r.Events != nil {
		actions++
		if !k.eventlog {
			k.add(path+".events", "route serves the event log, but no eventlog is configured", "add eventlog: {backend: file, file: {dir: /var/lib/meshd/events}}")
		}
	}
	if r.Publish != nil {
		actions++
		if r.Publish.Broker != "" && !k.brokers[r.Publish.Broker] {
			k.add(path+".publish.broker", fmt.Sprintf("route publishes to broker %q, which does not exist", r.Publish.Broker), k.brokerHint(r.Publish.Broker))
		}
	}
	if actions != 1 {
		k.add(path, "a route needs exactly one of cluster, weighted_clusters, direct_response, redirect, publish, events and jwks", "")
	}
	var targets []*Cluster
	checkCluster := func(field, name string) {
		cl, ok := clusters[name]
		if !ok {
			hint := "define it under clusters"
			if s := Suggest(name, names); s != "" {
				hint = fmt.Sprintf("did you mean %q? or define it under clusters", s)
			}
			k.add(field, fmt.Sprintf("route points to cluster %q, which does not exist", name), hint)
			return
		}
		targets = append(targets, cl)
	}
	if r.Cluster != "" {
		checkCluster(path+".cluster", r.Cluster)
	}
	for i, wc := range r.WeightedClusters {
		checkCluster(fmt.Sprintf("%s.weighted_clusters[%s]", path, key(wc.Name, i)), wc.Name)
		if wc.Weight <= 0 {
			k.add(fmt.Sprintf("%s.weighted_clusters[%s].weight", path, key(wc.Name, i)), "weight must be positive", "")
		}
	}
	if dr := r.DirectResponse; dr != nil && (dr.Status < 100 || dr.Status > 599) {
		k.add(path+".direct_response.status", fmt.Sprintf("%d is not an HTTP status", dr.Status), "use 100 to 599")
	}
	if rd := r.Redirect; rd != nil && !slices.Contains([]int{301, 302, 303, 307, 308}, rd.Status) {
		k.add(path+".redirect.status", fmt.Sprintf("%d is not a redirect status", rd.Status), "use 301, 302, 303, 307 or 308")
	}
	if rt := r.Retry; rt != nil {
		if rt.Attempts < 1 || rt.Attempts > 10 {
			k.add(path+".retry.attempts", fmt.Sprintf("attempts %d is out of range", rt.Attempts), "attempts counts every try, the first included: use 1 to 10")
		}
		for _, on := range rt.On {
			if !slices.Contains(RetryOn, on) {
				hint := "allowed: " + strings.Join(RetryOn, ", ")
				if s := Suggest(on, RetryOn); s != "" {
					hint = fmt.Sprintf("did you mean %q? allowed: %s", s, strings.Join(RetryOn, ", "))
				}
				k.add(path+".retry.on", fmt.Sprintf("unknown retry condition %q", on), hint)
			}
		}
		if slices.Contains(rt.On, "retriable-status-codes") && len(rt.RetriableStatusCodes) == 0 {
			k.add(path+".retry.retriable_status_codes", "retriable-status-codes is set but no codes are listed", "add retriable_status_codes: [503]")
		}
		if rt.PerTryTimeout > 0 && r.Timeout > 0 && rt.PerTryTimeout > r.Timeout {
			k.add(path+".retry.per_try_timeout", fmt.Sprintf("per-try timeout %s is longer than the route timeout %s", rt.PerTryTimeout.D(), r.Timeout.D()),
				"the route timeout bounds every try; shorten per_try_timeout or lengthen timeout")
		}
		if rt.Backoff.Max < rt.Backoff.Base {
			k.add(path+".retry.backoff.max", "backoff max is shorter than its base", "make max at least base")
		}
		for _, cl := range targets {
			if rt.Attempts-1 > cl.CircuitBreaker.MaxRetries {
				k.add(path+".retry.attempts", fmt.Sprintf("%d retries exceed cluster %q circuit_breaker.max_retries %d", rt.Attempts-1, cl.Name, cl.CircuitBreaker.MaxRetries),
					fmt.Sprintf("lower attempts to %d, or raise max_retries", cl.CircuitBreaker.MaxRetries+1))
			}
		}
	}
	for i, f := range r.Filters {
		if !filters[f.Name] {
			k.add(fmt.Sprintf("%s.filters[%s]", path, key(f.Name, i)), fmt.Sprintf("route overrides filter %q, which the listener does not have", f.Name), "name a filter from the listener's filters")
		}
	}
}
