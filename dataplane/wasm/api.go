package wasm

import (
	"context"
	"log/slog"
	"time"
)

// Action tells the data plane what to do after a filter callback.
type Action int

const (
	// Continue passes the request or response on to the next filter.
	Continue Action = iota
	// Pause holds the request: the filter awaits an async event (an http
	// call). Call [Stream.Wait]; it returns Continue or SendLocalResponse.
	Pause
	// SendLocalResponse stops the chain; answer with [Stream.LocalResponse].
	SendLocalResponse
)

// String names the action for logs.
func (a Action) String() string {
	switch a {
	case Continue:
		return "continue"
	case Pause:
		return "pause"
	case SendLocalResponse:
		return "local_response"
	}
	return "unknown"
}

// HeaderMap is a request or response header (or trailer) map the data plane
// owns and the guest reads and edits in place. Keys are lower case. A request
// map should expose the pseudo-headers :method, :path, :authority and
// :scheme, and a response map :status, as Envoy does, because filters written
// for Envoy read them. It must stay valid, and untouched by the data plane,
// from the On* call that passes it until [Stream.Done] (a paused stream edits
// it from another goroutine before it resumes).
type HeaderMap interface {
	// Get returns the first value of key.
	Get(key string) (string, bool)
	// Set replaces every value of key with value.
	Set(key, value string)
	// Add appends a value to key.
	Add(key, value string)
	// Remove deletes every value of key.
	Remove(key string)
	// Pairs appends every (key, value) in order to dst and returns it.
	Pairs(dst [][2]string) [][2]string
	// Len is the number of pairs.
	Len() int
}

// Headers is a simple slice-backed HeaderMap, for tests, trailers and
// callers without a map of their own.
type Headers [][2]string

// Get implements HeaderMap.
func (h *Headers) Get(key string) (string, bool) {
	for _, p := range *h {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

// Set implements HeaderMap.
func (h *Headers) Set(key, value string) {
	h.Remove(key)
	h.Add(key, value)
}

// Add implements HeaderMap.
func (h *Headers) Add(key, value string) { *h = append(*h, [2]string{key, value}) }

// Remove implements HeaderMap.
func (h *Headers) Remove(key string) {
	kept := (*h)[:0]
	for _, p := range *h {
		if p[0] != key {
			kept = append(kept, p)
		}
	}
	*h = kept
}

// Pairs implements HeaderMap.
func (h *Headers) Pairs(dst [][2]string) [][2]string { return append(dst, *h...) }

// Len implements HeaderMap.
func (h *Headers) Len() int { return len(*h) }

// LocalResponse is the answer a filter sent instead of forwarding the request.
type LocalResponse struct {
	Status     int
	Details    string // proxy_send_local_response's status details, for logs
	Headers    [][2]string
	Body       []byte
	GrpcStatus int32 // -1 when none
}

// StreamInfo describes a request to the filter; it backs proxy_get_property.
// Path lookups the fields do not cover go to Properties.
type StreamInfo struct {
	RequestID          string
	Method             string
	Path               string // with the query string
	Scheme             string
	Authority          string
	Protocol           string // "HTTP/1.1", "HTTP/2"
	SourceAddress      string // "ip:port" of the downstream peer
	DestinationAddress string // "ip:port" the request came in on
	PeerIdentity       string // mTLS peer URI SAN (SPIFFE id); empty without mTLS
	RouteName          string // selects a per-route config (see PluginConfig.Routes)
	ClusterName        string
	StartTime          time.Time
	// Properties answers other property paths (nil: not found). Values are
	// raw bytes; integers are 8-byte little-endian.
	Properties func(path []string) ([]byte, bool)
}

// Host is what the data plane provides to guests.
type Host interface {
	// HTTPCall sends a request to cluster and returns its response; headers
	// include the pseudo-headers :method, :path and :authority. The guest's
	// proxy_http_call returns at once; HTTPCall runs on its own goroutine and
	// its result is delivered with proxy_on_http_call_response.
	HTTPCall(ctx context.Context, cluster string, headers [][2]string, body []byte, timeout time.Duration) (status int, respHeaders [][2]string, respBody []byte, err error)
}

// ForeignFunc is a host function a guest calls by name with
// proxy_call_foreign_function. It runs synchronously inside the guest's
// callback (under the call deadline's context), so keep it short.
type ForeignFunc func(ctx context.Context, args []byte) ([]byte, error)

// RuntimeConfig configures a Runtime.
type RuntimeConfig struct {
	// CacheDir keeps compiled modules between runs; empty keeps them in memory.
	CacheDir string
	// Logger receives guest logs (proxy_log) and host events; nil: slog.Default.
	Logger *slog.Logger
	// ForeignFunctions are callable by every guest by name.
	ForeignFunctions map[string]ForeignFunc
}

// RouteConfig overrides a plugin for one route.
type RouteConfig struct {
	// Disabled skips the filter on this route: NewStream returns a stream
	// whose callbacks all Continue without entering the VM.
	Disabled bool `json:"disabled,omitempty"`
	// Config replaces the plugin's configuration on this route. Each
	// distinct override is its own root context in every VM, configured at
	// start, so a bad override fails NewPlugin like a bad base config.
	Config []byte `json:"config,omitempty"`
}

// PluginConfig configures one plugin (one filter in a chain).
type PluginConfig struct {
	// Name identifies the plugin in logs, metrics and the plugin_name property.
	Name string
	// WasmPath is the module file; Wasm, if set, is used instead.
	WasmPath string
	Wasm     []byte
	// Config is handed to proxy_on_configure (usually JSON).
	Config []byte
	// VMConfig is handed to proxy_on_vm_start.
	VMConfig []byte
	// VMID namespaces shared data and queues; empty means Name, so a reloaded
	// version keeps its predecessor's shared data (rate-limit buckets).
	VMID string
	// FailOpen continues a request whose filter failed; otherwise it gets 503.
	FailOpen bool
	// PoolSize is the most VMs; 0 means GOMAXPROCS. The pool starts with
	// MinVMs (default 1) and grows, one VM at a time in the background,
	// whenever a stream finds every VM busy: an idle or lightly loaded
	// plugin keeps one VM (a Go VM is ~5-10 MB).
	PoolSize int
	MinVMs   int
	// IdleTimeout closes a VM beyond MinVMs that has taken no new stream
	// for between one and two IdleTimeouts and has no stream or http call
	// in flight, so a pool grown by a burst shrinks back (each Go VM holds
	// ~5 MB resident). 0 means 30s; negative keeps every VM until Close.
	IdleTimeout time.Duration
	// CallDeadline bounds each call into the guest; 0 means 500ms. Signature
	// checks in a Go guest are slow (an ES384 verify takes milliseconds), so
	// leave room for them on a loaded machine.
	CallDeadline time.Duration
	// StartDeadline bounds instantiating and configuring a VM; 0 means 10s.
	StartDeadline time.Duration
	// MemoryLimitPages caps each VM's memory in 64 KiB pages; 0 means 1024 (64 MiB).
	MemoryLimitPages uint32
	// Routes holds per-route overrides keyed by StreamInfo.RouteName.
	Routes map[string]RouteConfig
	// GCEvery is how many guest calls pass between two calls of the guest's
	// wasmesh_gc export (when it has one); 0 means 1000, negative disables it.
	GCEvery int
}
