package conf

import (
	"fmt"

	evconfig "github.com/wasmesh/wasmesh/eventlog/config"
	"github.com/wasmesh/wasmesh/identity/authz"
	"strings"
	"time"
)

// Config is the whole of meshd's configuration, after overlays are merged.
// A Config that passed Validate is what the data plane compiles into a
// snapshot; it is never mutated after that.
type Config struct {
	Admin     Admin      `yaml:"admin" json:"admin"`
	Listeners []Listener `yaml:"listeners" json:"listeners"`
	Clusters  []Cluster  `yaml:"clusters" json:"clusters"`
	Logging   Logging    `yaml:"logging,omitempty" json:"logging,omitempty"`
	// Brokers are the message brokers the messaging gateway uses.
	Brokers []Broker `yaml:"brokers,omitempty" json:"brokers,omitempty"`
	// Registries are the service registries meshd reads endpoints from and
	// registers its app in.
	Registries []Registry `yaml:"registries,omitempty" json:"registries,omitempty"`
	// Service registers the app beside meshd in the registries it names.
	Service *Service `yaml:"service,omitempty" json:"service,omitempty"`
	// Authorization policies (as Istio's AuthorizationPolicy), evaluated
	// after the filters on every route they select.
	Authorization []authz.Policy `yaml:"authorization,omitempty" json:"authorization,omitempty"`
	// Audit records every denied request; with a broker, publishes it.
	Audit *Audit `yaml:"audit,omitempty" json:"audit,omitempty"`
	// Mesh is this meshd's identity: its workload certificate (SPIFFE ID
	// in the URI SAN), the trust bundle, and the mesh-wide mTLS mode.
	Mesh *Mesh `yaml:"mesh,omitempty" json:"mesh,omitempty"`
	// Tracing exports OpenTelemetry spans for every request and upstream
	// try by OTLP.
	Tracing *Tracing `yaml:"tracing,omitempty" json:"tracing,omitempty"`
	// Wasm configures the filter host shared by every Wasm filter.
	Wasm WasmHost `yaml:"wasm,omitempty" json:"wasm,omitempty"`
	// EventLog is the event store meshd serves to its app on routes with
	// an events action (file log by default, or PostgreSQL).
	EventLog *evconfig.Config `yaml:"eventlog,omitempty" json:"eventlog,omitempty"`
	// Subscriptions deliver messages from a broker to the app over HTTP.
	Subscriptions []Subscription `yaml:"subscriptions,omitempty" json:"subscriptions,omitempty"`
	// Drain bounds how long SIGTERM waits for requests in flight.
	DrainTimeout Duration `yaml:"drain_timeout,omitempty" json:"drain_timeout,omitempty"`
	// DrainGrace is how long a draining meshd keeps accepting, answering
	// with Connection: close, so clients move away before the listener
	// closes (Envoy's --drain-time-s).
	DrainGrace Duration `yaml:"drain_grace,omitempty" json:"drain_grace,omitempty"`
}

// Admin configures the admin API (Envoy's 9901). It listens on loopback
// unless AllowNonLoopback says otherwise, because it can reload and drain.
type Admin struct {
	Address          string `yaml:"address" json:"address"`
	AllowNonLoopback bool   `yaml:"allow_non_loopback,omitempty" json:"allow_non_loopback,omitempty"`
}

// Logging sets the process log level and whether requests are access-logged.
type Logging struct {
	Level     string `yaml:"level,omitempty" json:"level,omitempty"`
	AccessLog *bool  `yaml:"access_log,omitempty" json:"access_log,omitempty"`
}

// Listener is one address meshd accepts HTTP on. Routes directly under a
// listener form its default virtual host (domain "*"), so a small config
// needs no virtual_hosts section.
type Listener struct {
	Name         string        `yaml:"name" json:"name"`
	Address      string        `yaml:"address" json:"address"`
	Routes       []Route       `yaml:"routes,omitempty" json:"routes,omitempty"`
	VirtualHosts []VirtualHost `yaml:"virtual_hosts,omitempty" json:"virtual_hosts,omitempty"`
	Filters      []Filter      `yaml:"filters,omitempty" json:"filters,omitempty"`
	// IdleTimeout closes a downstream keep-alive connection left idle.
	IdleTimeout Duration `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitempty"`
	// MaxRequestHeadersKB bounds the request header size.
	MaxRequestHeadersKB int `yaml:"max_request_headers_kb,omitempty" json:"max_request_headers_kb,omitempty"`
	// Protocol is what the listener speaks: auto (HTTP/1.1 and HTTP/2,
	// told apart by the h2 preface or by ALPN), http1 or http2.
	Protocol string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	// TLS terminates TLS (and mTLS when client_ca_file is set).
	TLS *ListenerTLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// MTLS overrides the mesh-wide mode for this listener.
	MTLS string `yaml:"mtls,omitempty" json:"mtls,omitempty"`
}

// ListenerTLS is a listener's certificate and, for mTLS, the CA that
// client certificates must chain to. Files are re-read when they change.
type ListenerTLS struct {
	CertFile          string `yaml:"cert_file" json:"cert_file"`
	KeyFile           string `yaml:"key_file" json:"key_file"`
	ClientCAFile      string `yaml:"client_ca_file,omitempty" json:"client_ca_file,omitempty"`
	RequireClientCert bool   `yaml:"require_client_cert,omitempty" json:"require_client_cert,omitempty"`
	// TrustDomain refuses client certificates whose SPIFFE ID is in
	// another trust domain (set from mesh: for mTLS listeners).
	TrustDomain string `yaml:"trust_domain,omitempty" json:"trust_domain,omitempty"`
	// AcceptPlaintext serves plaintext on the same port too (permissive).
	AcceptPlaintext bool `yaml:"accept_plaintext,omitempty" json:"accept_plaintext,omitempty"`
}

// UpstreamTLS is how meshd connects to a cluster over TLS: the CA that the
// server certificate must chain to and, for mTLS, meshd's own certificate.
type UpstreamTLS struct {
	CAFile     string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	CertFile   string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile    string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	ServerName string `yaml:"server_name,omitempty" json:"server_name,omitempty"`
	// TrustDomain refuses a server whose SPIFFE ID is in another domain.
	TrustDomain string `yaml:"trust_domain,omitempty" json:"trust_domain,omitempty"`
}

// VirtualHost groups routes by the request's Host, as in Envoy. Domains may
// be exact ("api.example.com"), suffix wildcards ("*.example.com") or "*".
type VirtualHost struct {
	Name    string   `yaml:"name" json:"name"`
	Domains []string `yaml:"domains" json:"domains"`
	Routes  []Route  `yaml:"routes" json:"routes"`
}

// Filter is a Wasm filter in a listener's chain. Routes may override its
// config or switch it off by name.
type Filter struct {
	Name     string         `yaml:"name" json:"name"`
	Wasm     string         `yaml:"wasm" json:"wasm"`
	FailOpen bool           `yaml:"fail_open,omitempty" json:"fail_open,omitempty"`
	Config   map[string]any `yaml:"config,omitempty" json:"config,omitempty"`
	PoolSize int            `yaml:"pool_size,omitempty" json:"pool_size,omitempty"`
}

// Registry is one service-registry connection (etcd, consul, kubernetes,
// static), named so clusters and the service refer to it. Options are the
// backend's own (see discovery/*/README.md).
type Registry struct {
	Name    string         `yaml:"name" json:"name"`
	Backend string         `yaml:"backend" json:"backend"`
	Options map[string]any `yaml:"options,omitempty" json:"options,omitempty"`
}

// Discovery takes a cluster's endpoints from registries instead of the
// config: the healthy instances of a service, filtered by tags and
// metadata, merged and de-duplicated by address across registries.
type Discovery struct {
	Backend  string            `yaml:"backend,omitempty" json:"backend,omitempty"`
	Backends []string          `yaml:"backends,omitempty" json:"backends,omitempty"`
	Service  string            `yaml:"service" json:"service"`
	Tags     []string          `yaml:"tags,omitempty" json:"tags,omitempty"`
	Metadata map[string]string `yaml:"metadata,omitempty" json:"metadata,omitempty"`
}

// Names lists the registries the cluster reads from.
func (d Discovery) Names() []string {
	if d.Backend != "" {
		return []string{d.Backend}
	}
	return d.Backends
}

// Service is the app beside meshd: registered on start, its health kept up
// to date from meshd's own checks of it, deregistered on SIGTERM before
// the drain, so callers stop sending first.
type Service struct {
	Name       string            `yaml:"name" json:"name"`
	ID         string            `yaml:"id,omitempty" json:"id,omitempty"`
	Address    string            `yaml:"address" json:"address"`
	Port       int               `yaml:"port" json:"port"`
	Version    string            `yaml:"version,omitempty" json:"version,omitempty"`
	Tags       []string          `yaml:"tags,omitempty" json:"tags,omitempty"`
	Metadata   map[string]string `yaml:"metadata,omitempty" json:"metadata,omitempty"`
	Registries []string          `yaml:"registries" json:"registries"`
	// HealthCheck is how meshd checks the app (GET path on address:port).
	HealthCheck *HealthCheck `yaml:"health_check,omitempty" json:"health_check,omitempty"`
	// TTL is how long a registration lives without renewal (a crashed
	// meshd's app disappears after it).
	TTL Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
}

// Audit publishes denial events (authentication, authorization, rate
// limit) to a broker topic, besides logging them.
type Audit struct {
	Broker    string `yaml:"broker,omitempty" json:"broker,omitempty"`
	Topic     string `yaml:"topic,omitempty" json:"topic,omitempty"`
	QueueSize int    `yaml:"queue_size,omitempty" json:"queue_size,omitempty"`
}

// Mesh turns on mutual TLS between meshd instances, as Istio's
// PeerAuthentication: strict (mTLS only), permissive (mTLS or plaintext on
// one port, for migrations) or off. Listeners and clusters may override
// the mode with their own mtls. The files are the layout cert-manager and
// SPIRE write, re-read when they change.
type Mesh struct {
	TrustDomain string `yaml:"trust_domain" json:"trust_domain"`
	MTLS        string `yaml:"mtls,omitempty" json:"mtls,omitempty"`
	CertFile    string `yaml:"cert_file" json:"cert_file"`
	KeyFile     string `yaml:"key_file" json:"key_file"`
	CAFile      string `yaml:"ca_file" json:"ca_file"`
}

// Tracing says where spans go. Export is batched and never blocks a
// request: when the collector is down, spans beyond the queue are dropped
// and counted.
type Tracing struct {
	// OTLPEndpoint is host:port of an OTLP receiver.
	OTLPEndpoint string `yaml:"otlp_endpoint" json:"otlp_endpoint"`
	// Protocol is grpc (default, port 4317) or http (4318).
	Protocol string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	// SamplingRatio samples new traces (0 to 1, default 1); a request
	// that arrives with a sampled parent is always traced.
	SamplingRatio *float64 `yaml:"sampling_ratio,omitempty" json:"sampling_ratio,omitempty"`
	ServiceName   string   `yaml:"service_name,omitempty" json:"service_name,omitempty"`
	// QueueSize bounds the spans waiting for export (default 2048).
	QueueSize int `yaml:"queue_size,omitempty" json:"queue_size,omitempty"`
}

// WasmHost configures the Proxy-Wasm runtime: where compiled modules are
// cached between runs, and the Redis that global rate limits share.
type WasmHost struct {
	CacheDir string `yaml:"cache_dir,omitempty" json:"cache_dir,omitempty"`
	// RedisURL enables the rate-limit filter's global limits
	// (redis://host:port/db), counted in one Redis by every meshd.
	RedisURL string `yaml:"redis_url,omitempty" json:"redis_url,omitempty"`
	// CallDeadline bounds each call into a guest (default 500ms).
	CallDeadline Duration `yaml:"call_deadline,omitempty" json:"call_deadline,omitempty"`
	// MemoryLimitMB caps each VM's memory (default 64).
	MemoryLimitMB int `yaml:"memory_limit_mb,omitempty" json:"memory_limit_mb,omitempty"`
}

// RouteFilter overrides a listener filter for one route.
type RouteFilter struct {
	Name     string         `yaml:"name" json:"name"`
	Disabled bool           `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	Config   map[string]any `yaml:"config,omitempty" json:"config,omitempty"`
}

// Route says where a matching request goes: a cluster, weighted clusters,
// a direct response or a redirect (exactly one of them).
type Route struct {
	Name             string            `yaml:"name,omitempty" json:"name,omitempty"`
	Match            Match             `yaml:"match" json:"match"`
	Cluster          string            `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	WeightedClusters []WeightedCluster `yaml:"weighted_clusters,omitempty" json:"weighted_clusters,omitempty"`
	DirectResponse   *DirectResponse   `yaml:"direct_response,omitempty" json:"direct_response,omitempty"`
	Redirect         *Redirect         `yaml:"redirect,omitempty" json:"redirect,omitempty"`
	Publish          *Publish          `yaml:"publish,omitempty" json:"publish,omitempty"`
	Events           *Events           `yaml:"events,omitempty" json:"events,omitempty"`
	// JWKS serves the public keys of the self-signed token sources, so
	// another meshd's jwt-auth can verify the tokens this one mints.
	JWKS *struct{} `yaml:"jwks,omitempty" json:"jwks,omitempty"`
	// Timeout is the total time for the request including every retry.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// IdleTimeout is the read timeout on the upstream response.
	IdleTimeout             Duration          `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitempty"`
	Retry                   *Retry            `yaml:"retry,omitempty" json:"retry,omitempty"`
	PrefixRewrite           string            `yaml:"prefix_rewrite,omitempty" json:"prefix_rewrite,omitempty"`
	HostRewrite             string            `yaml:"host_rewrite,omitempty" json:"host_rewrite,omitempty"`
	RequestHeadersToAdd     map[string]string `yaml:"request_headers_to_add,omitempty" json:"request_headers_to_add,omitempty"`
	RequestHeadersToRemove  []string          `yaml:"request_headers_to_remove,omitempty" json:"request_headers_to_remove,omitempty"`
	ResponseHeadersToAdd    map[string]string `yaml:"response_headers_to_add,omitempty" json:"response_headers_to_add,omitempty"`
	ResponseHeadersToRemove []string          `yaml:"response_headers_to_remove,omitempty" json:"response_headers_to_remove,omitempty"`
	Filters                 []RouteFilter     `yaml:"filters,omitempty" json:"filters,omitempty"`
}

// Broker is one broker connection, opened once and kept across reloads
// while its settings stay the same. Options are the adapter's own (see
// brokers/*/README.md), decoded strictly by the adapter.
type Broker struct {
	Name    string         `yaml:"name" json:"name"`
	Type    string         `yaml:"type" json:"type"`
	URL     string         `yaml:"url,omitempty" json:"url,omitempty"`
	Options map[string]any `yaml:"options,omitempty" json:"options,omitempty"`
}

// Subscription consumes a topic and delivers each message to the app as an
// HTTP POST (CloudEvents binary mode) through one of meshd's own listeners,
// so the listener's routes and filters apply to deliveries too.
type Subscription struct {
	Name    string  `yaml:"name" json:"name"`
	Broker  string  `yaml:"broker" json:"broker"`
	Topic   string  `yaml:"topic" json:"topic"`
	Group   string  `yaml:"group,omitempty" json:"group,omitempty"`
	Deliver Deliver `yaml:"deliver" json:"deliver"`
	// MaxAttempts is how many times one message is delivered before it is
	// dead-lettered.
	MaxAttempts int     `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	Backoff     Backoff `yaml:"backoff,omitempty" json:"backoff,omitempty"`
	// DeadLetterTopic receives messages that failed MaxAttempts times or
	// were refused as permanent; default TOPIC.dlq.
	DeadLetterTopic string `yaml:"dead_letter_topic,omitempty" json:"dead_letter_topic,omitempty"`
	// Ordered delivers one message at a time, so messages with one key (one
	// Kafka partition) arrive in order.
	Ordered     bool     `yaml:"ordered,omitempty" json:"ordered,omitempty"`
	Concurrency int      `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	Timeout     Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Start is where a new group starts: earliest (default) or latest.
	Start string `yaml:"start,omitempty" json:"start,omitempty"`
}

// Deliver says where a subscription's messages go: a path on one of
// meshd's listeners.
type Deliver struct {
	Listener string `yaml:"listener" json:"listener"`
	Path     string `yaml:"path" json:"path"`
}

// Publish makes a route a messaging gateway endpoint: a POST publishes its
// body (CloudEvents structured or binary mode) and answers 204 once the
// broker confirmed it. Empty Broker and Topic are taken from the path:
// PREFIX/{broker}/{topic}.
type Publish struct {
	Broker string `yaml:"broker,omitempty" json:"broker,omitempty"`
	Topic  string `yaml:"topic,omitempty" json:"topic,omitempty"`
}

// Events makes a route serve the event log: POST PREFIX{stream} appends
// (Expected-Version header), GET reads, GET with Accept: text/event-stream
// subscribes. The stream "$all" reads every stream in global order.
type Events struct {
	// ReadOnly refuses appends on this route.
	ReadOnly bool `yaml:"read_only,omitempty" json:"read_only,omitempty"`
}

// Match selects requests. All given conditions must hold.
type Match struct {
	Prefix  string            `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	Path    string            `yaml:"path,omitempty" json:"path,omitempty"`
	Regex   string            `yaml:"regex,omitempty" json:"regex,omitempty"`
	Methods []string          `yaml:"methods,omitempty" json:"methods,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Query   map[string]string `yaml:"query,omitempty" json:"query,omitempty"`
}

// WeightedCluster splits traffic of one route between clusters.
type WeightedCluster struct {
	Name   string `yaml:"name" json:"name"`
	Weight int    `yaml:"weight" json:"weight"`
}

// DirectResponse answers from meshd itself, without an upstream.
type DirectResponse struct {
	Status int    `yaml:"status" json:"status"`
	Body   string `yaml:"body,omitempty" json:"body,omitempty"`
}

// Redirect answers with a 3xx pointing elsewhere.
type Redirect struct {
	Status        int    `yaml:"status,omitempty" json:"status,omitempty"`
	Scheme        string `yaml:"scheme,omitempty" json:"scheme,omitempty"`
	Host          string `yaml:"host,omitempty" json:"host,omitempty"`
	Path          string `yaml:"path,omitempty" json:"path,omitempty"`
	PrefixRewrite string `yaml:"prefix_rewrite,omitempty" json:"prefix_rewrite,omitempty"`
}

// Retry is a route's retry policy (Envoy's retry_policy).
type Retry struct {
	Attempts             int      `yaml:"attempts" json:"attempts"`
	On                   []string `yaml:"on,omitempty" json:"on,omitempty"`
	RetriableStatusCodes []int    `yaml:"retriable_status_codes,omitempty" json:"retriable_status_codes,omitempty"`
	PerTryTimeout        Duration `yaml:"per_try_timeout,omitempty" json:"per_try_timeout,omitempty"`
	Backoff              Backoff  `yaml:"backoff,omitempty" json:"backoff,omitempty"`
}

// Backoff is exponential backoff with full jitter between retries.
type Backoff struct {
	Base Duration `yaml:"base,omitempty" json:"base,omitempty"`
	Max  Duration `yaml:"max,omitempty" json:"max,omitempty"`
}

// Cluster is a named group of upstream endpoints with one balancing policy.
type Cluster struct {
	Name             string            `yaml:"name" json:"name"`
	LB               string            `yaml:"lb,omitempty" json:"lb,omitempty"`
	ConnectTimeout   Duration          `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitempty"`
	Endpoints        []Endpoint        `yaml:"endpoints,omitempty" json:"endpoints,omitempty"`
	HealthCheck      *HealthCheck      `yaml:"health_check,omitempty" json:"health_check,omitempty"`
	OutlierDetection *OutlierDetection `yaml:"outlier_detection,omitempty" json:"outlier_detection,omitempty"`
	CircuitBreaker   *CircuitBreaker   `yaml:"circuit_breaker,omitempty" json:"circuit_breaker,omitempty"`
	Hash             *HashKey          `yaml:"hash,omitempty" json:"hash,omitempty"`
	// LBPanicThreshold is Envoy's healthy_panic_threshold for ring_hash and
	// maglev, in percent (default 50): below that share of available
	// endpoints the table spans all of them, so the few healthy ones are not
	// flooded with every key. 0 enters panic mode only when none is
	// available.
	LBPanicThreshold *int         `yaml:"lb_panic_threshold,omitempty" json:"lb_panic_threshold,omitempty"`
	RetryBudget      *RetryBudget `yaml:"retry_budget,omitempty" json:"retry_budget,omitempty"`
	// MaxConnsPerEndpoint bounds each endpoint's connection pool.
	MaxConnsPerEndpoint int `yaml:"max_conns_per_endpoint,omitempty" json:"max_conns_per_endpoint,omitempty"`
	// Protocol is what the upstream speaks: http1 (default), http2, or grpc
	// (HTTP/2, with gRPC health checks and gRPC-aware retries).
	Protocol string       `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	TLS      *UpstreamTLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// Discovery takes the endpoints from registries, updated live.
	Discovery *Discovery `yaml:"discovery,omitempty" json:"discovery,omitempty"`
	// MTLS overrides the mesh-wide mode for this cluster (off for
	// endpoints outside the mesh).
	MTLS string `yaml:"mtls,omitempty" json:"mtls,omitempty"`
	// Token attaches a JWT to every request meshd sends to the cluster.
	Token *Token `yaml:"token,omitempty" json:"token,omitempty"`
}

// Token is where outgoing requests' JWT comes from: exactly one of a file
// (re-read on change: Kubernetes projected service-account tokens), an
// OAuth2 client-credentials grant, or a token meshd signs itself.
type Token struct {
	File              string             `yaml:"file,omitempty" json:"file,omitempty"`
	ClientCredentials *ClientCredentials `yaml:"client_credentials,omitempty" json:"client_credentials,omitempty"`
	SelfSigned        *SelfSigned        `yaml:"self_signed,omitempty" json:"self_signed,omitempty"`
}

// ClientCredentials is an OAuth2 client-credentials grant; the token is
// cached until shortly before it expires and refreshed in the background.
type ClientCredentials struct {
	TokenURL         string   `yaml:"token_url" json:"token_url"`
	ClientID         string   `yaml:"client_id" json:"client_id"`
	ClientSecret     string   `yaml:"client_secret,omitempty" json:"client_secret,omitempty"`
	ClientSecretFile string   `yaml:"client_secret_file,omitempty" json:"client_secret_file,omitempty"`
	Scopes           []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	Audience         string   `yaml:"audience,omitempty" json:"audience,omitempty"`
}

// SelfSigned mints short-lived tokens for meshd's own identity (audience =
// the cluster name unless set); routes with a jwks action publish the key.
type SelfSigned struct {
	Issuer   string   `yaml:"issuer" json:"issuer"`
	Subject  string   `yaml:"subject,omitempty" json:"subject,omitempty"`
	Audience string   `yaml:"audience,omitempty" json:"audience,omitempty"`
	Lifetime Duration `yaml:"lifetime,omitempty" json:"lifetime,omitempty"`
	KeyFile  string   `yaml:"key_file,omitempty" json:"key_file,omitempty"`
}

// Endpoint is one upstream instance.
type Endpoint struct {
	Address string `yaml:"address" json:"address"`
	Weight  int    `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Source says where a discovered endpoint came from (set by meshd).
	Source string `yaml:"-" json:"source,omitempty"`
}

// HealthCheck is an active HTTP health check of every endpoint.
type HealthCheck struct {
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// GRPC checks with the gRPC health checking protocol instead of a GET.
	GRPC bool `yaml:"grpc,omitempty" json:"grpc,omitempty"`
	// Service is the service name asked of the gRPC health service.
	Service            string   `yaml:"service,omitempty" json:"service,omitempty"`
	Interval           Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout            Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold,omitempty" json:"unhealthy_threshold,omitempty"`
	HealthyThreshold   int      `yaml:"healthy_threshold,omitempty" json:"healthy_threshold,omitempty"`
}

// OutlierDetection ejects endpoints that fail in a row (Envoy's passive
// health checking).
type OutlierDetection struct {
	Consecutive5xx          int      `yaml:"consecutive_5xx,omitempty" json:"consecutive_5xx,omitempty"`
	ConsecutiveGatewayError int      `yaml:"consecutive_gateway_error,omitempty" json:"consecutive_gateway_error,omitempty"`
	Interval                Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	BaseEjectionTime        Duration `yaml:"base_ejection_time,omitempty" json:"base_ejection_time,omitempty"`
	MaxEjectionPercent      int      `yaml:"max_ejection_percent,omitempty" json:"max_ejection_percent,omitempty"`
}

// CircuitBreaker caps what one cluster may have in flight, as Envoy's
// thresholds: overflow is answered 503 at once instead of queueing.
type CircuitBreaker struct {
	MaxConnections int `yaml:"max_connections,omitempty" json:"max_connections,omitempty"`
	MaxPending     int `yaml:"max_pending,omitempty" json:"max_pending,omitempty"`
	MaxRequests    int `yaml:"max_requests,omitempty" json:"max_requests,omitempty"`
	MaxRetries     int `yaml:"max_retries,omitempty" json:"max_retries,omitempty"`
}

// HashKey says what ring_hash and maglev hash on.
type HashKey struct {
	Header   string `yaml:"header,omitempty" json:"header,omitempty"`
	Cookie   string `yaml:"cookie,omitempty" json:"cookie,omitempty"`
	SourceIP bool   `yaml:"source_ip,omitempty" json:"source_ip,omitempty"`
}

// RetryBudget limits retries to a share of active requests so that retries
// cannot multiply load during an outage (Envoy's retry_budget).
type RetryBudget struct {
	Percent        float64 `yaml:"percent,omitempty" json:"percent,omitempty"`
	MinConcurrency int     `yaml:"min_concurrency,omitempty" json:"min_concurrency,omitempty"`
}

// Duration is a time.Duration written as "250ms" or "2s" in YAML and JSON.
type Duration time.Duration

// D returns the standard library value.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalYAML writes the human form.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the human form.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalYAML reads "250ms", "2s", or a bare number of seconds.
func (d *Duration) UnmarshalYAML(b []byte) error {
	v, err := ParseDuration(strings.Trim(strings.TrimSpace(string(b)), `"'`))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalJSON reads the same forms as UnmarshalYAML.
func (d *Duration) UnmarshalJSON(b []byte) error { return d.UnmarshalYAML(b) }

// ParseDuration accepts Go duration syntax or a plain number of seconds.
func ParseDuration(s string) (Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if v, err := time.ParseDuration(s); err == nil {
		if v < 0 {
			return 0, fmt.Errorf("duration %q is negative", s)
		}
		return Duration(v), nil
	}
	var secs float64
	if _, err := fmt.Sscanf(s, "%g", &secs); err == nil && !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
		return Duration(secs * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("%q is not a duration (write it like 250ms, 2s or 1m)", s)
}
