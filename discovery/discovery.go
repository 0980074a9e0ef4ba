package discovery

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Registry is the one interface every backend implements. Methods are safe
// for concurrent use.
type Registry interface {
	// Register announces inst and keeps it announced (lease keep-alive, TTL
	// heartbeat) until Deregister or Close. Registering the same ID again
	// replaces the previous registration. Backends that do not accept
	// registrations return ErrUnsupported.
	Register(ctx context.Context, inst Instance) error
	// Deregister removes an instance this registry registered. An unknown
	// id yields ErrNotFound.
	Deregister(ctx context.Context, id string) error
	// SetStatus reports the health of an instance this registry registered,
	// so that callers stop (or resume) sending to it: an unhealthy instance
	// disappears from Resolve and Watch results.
	SetStatus(ctx context.Context, id string, s Status) error
	// Resolve returns the healthy instances of service that match f, sorted
	// by ID. An unknown service yields an empty slice, not an error.
	Resolve(ctx context.Context, service string, f Filter) ([]Instance, error)
	// Watch streams the healthy instances of service that match f. The
	// first Update holds the current set; each later one is a complete
	// set. The channel keeps only the newest unread Update and is closed
	// when ctx ends or the registry is closed.
	Watch(ctx context.Context, service string, f Filter) (<-chan Update, error)
	// Health reports whether the backend can be reached; nil means
	// healthy, otherwise the error wraps ErrUnavailable.
	Health(ctx context.Context) error
	// Close stops background work and deregisters every instance this
	// registry registered (callers stop sending before the process exits).
	Close() error
}

// Update is one complete view of a watched service.
type Update struct {
	// Instances is the full set of healthy matching instances, sorted by
	// ID. When Err is set it holds the last set known before the failure.
	Instances []Instance
	// Err, when not nil, says the backend cannot currently confirm the set
	// (it wraps ErrUnavailable); the watch keeps retrying and sends a fresh
	// Update with a nil Err when it recovers.
	Err error
}

// Status is the health of a registered instance as reported by its owner.
type Status int

const (
	// StatusHealthy means the instance should receive traffic.
	StatusHealthy Status = iota
	// StatusUnhealthy means the instance must not receive traffic, but is
	// still registered (it may come back).
	StatusUnhealthy
)

// String returns the name used in logs and metadata.
func (s Status) String() string {
	switch s {
	case StatusHealthy:
		return "healthy"
	case StatusUnhealthy:
		return "unhealthy"
	default:
		return "Status(" + strconv.Itoa(int(s)) + ")"
	}
}

// Instance is one network endpoint of a service.
type Instance struct {
	// Service is the logical service name ("api").
	Service string `json:"service"`
	// ID is unique within the service and stable across restarts of the
	// same instance when possible.
	ID string `json:"id"`
	// Address is an IP or host name, without port.
	Address string `json:"address"`
	// Port is the TCP port.
	Port int `json:"port"`
	// Version is the version of the software the instance runs.
	Version string `json:"version,omitempty"`
	// Tags are free labels used by Filter ("v2", "canary").
	Tags []string `json:"tags,omitempty"`
	// Metadata are key/value labels used by Filter ("zone": "eu-1").
	Metadata map[string]string `json:"metadata,omitempty"`
	// Check describes how the instance's health is checked.
	Check Check `json:"check,omitzero"`
	// Source names the backend this instance came from; set by Resolve and
	// Watch (shown by /clusters), ignored by Register.
	Source string `json:"source,omitempty"`
}

// Check describes an instance's health check. Backends with their own
// checker (Consul) run it; others only record it and rely on SetStatus.
type Check struct {
	// HTTP is a URL answered with 2xx while the instance is healthy.
	HTTP string `json:"http,omitempty"`
	// Interval is how often HTTP is probed.
	Interval time.Duration `json:"interval,omitempty"`
	// TTL is how long the registration (or its heartbeat) stays valid
	// without renewal; the registry renews it while it runs. An instance
	// whose process died disappears after about TTL. Zero means the
	// backend default.
	TTL time.Duration `json:"ttl,omitempty"`
	// DeregisterAfter removes an instance that has been unhealthy that
	// long (Consul's DeregisterCriticalServiceAfter). Zero means the
	// backend default.
	DeregisterAfter time.Duration `json:"deregister_after,omitempty"`
}

// HostPort returns "address:port", the key instances are de-duplicated by.
func (i Instance) HostPort() string {
	return net.JoinHostPort(i.Address, strconv.Itoa(i.Port))
}

// Validate reports a malformed instance before it reaches a backend.
func (i Instance) Validate() error {
	switch {
	case i.Service == "":
		return fmt.Errorf("%w: instance has no service name", ErrInvalid)
	case i.ID == "":
		return fmt.Errorf("%w: instance of %q has no id", ErrInvalid, i.Service)
	case i.Address == "":
		return fmt.Errorf("%w: instance %q has no address", ErrInvalid, i.ID)
	case i.Port <= 0 || i.Port > 65535:
		return fmt.Errorf("%w: instance %q has port %d outside 1-65535", ErrInvalid, i.ID, i.Port)
	case i.Check.HTTP != "" && i.Check.Interval <= 0:
		return fmt.Errorf("%w: instance %q has an HTTP check without an interval", ErrInvalid, i.ID)
	}
	return nil
}

// Clone returns a deep copy, so a caller can keep an Instance while the
// registry keeps its own.
func (i Instance) Clone() Instance {
	i.Tags = slices.Clone(i.Tags)
	if i.Metadata != nil {
		m := make(map[string]string, len(i.Metadata))
		for k, v := range i.Metadata {
			m[k] = v
		}
		i.Metadata = m
	}
	return i
}

// Equal reports whether two instances carry the same data; watchers use it
// to suppress updates that change nothing.
func (i Instance) Equal(o Instance) bool {
	if i.Service != o.Service || i.ID != o.ID || i.Address != o.Address || i.Port != o.Port ||
		i.Version != o.Version || i.Check != o.Check || i.Source != o.Source ||
		!slices.Equal(i.Tags, o.Tags) || len(i.Metadata) != len(o.Metadata) {
		return false
	}
	for k, v := range i.Metadata {
		if ov, ok := o.Metadata[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// Filter selects instances: every tag in Tags and every key/value pair in
// Metadata must be present. The zero Filter matches everything.
type Filter struct {
	Tags     []string          `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Match reports whether inst passes the filter.
func (f Filter) Match(inst Instance) bool {
	for _, t := range f.Tags {
		if !slices.Contains(inst.Tags, t) {
			return false
		}
	}
	for k, v := range f.Metadata {
		if got, ok := inst.Metadata[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Apply returns the instances of in that pass the filter, sorted by ID
// (then address); it is what backends without server-side filtering use.
func (f Filter) Apply(in []Instance) []Instance {
	out := make([]Instance, 0, len(in))
	for _, inst := range in {
		if f.Match(inst) {
			out = append(out, inst)
		}
	}
	SortInstances(out)
	return out
}

// SortInstances orders instances by ID then address, the order every
// Resolve and Update uses, so that sets compare cheaply.
func SortInstances(in []Instance) {
	sort.Slice(in, func(a, b int) bool {
		if in[a].ID != in[b].ID {
			return in[a].ID < in[b].ID
		}
		return in[a].HostPort() < in[b].HostPort()
	})
}

// EqualSets reports whether two sorted instance sets are the same.
func EqualSets(a, b []Instance) bool {
	return slices.EqualFunc(a, b, Instance.Equal)
}
