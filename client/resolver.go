package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/goccy/go-yaml"
)

// Endpoint is one address serving a service.
type Endpoint struct {
	// Address is host:port.
	Address string `yaml:"address" json:"address"`
	// Weight for weighted policies; 0 means 1.
	Weight int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Metadata is free-form (zone, version ...), passed to gRPC as address
	// attributes.
	Metadata map[string]string `yaml:"metadata,omitempty" json:"metadata,omitempty"`
}

// Resolver turns a logical service name into endpoints. It is the SDK's
// only view of service discovery, so any registry (the discovery package,
// a file, a test) can feed it.
type Resolver interface {
	// Resolve returns the current endpoints of service, or an error
	// matching ErrUnknownService when it has none registered.
	Resolve(ctx context.Context, service string) ([]Endpoint, error)
	// Watch sends the full endpoint list each time it changes (the current
	// list first) until ctx ends, then closes the channel.
	Watch(ctx context.Context, service string) (<-chan []Endpoint, error)
}

// StaticResolver serves endpoints from config. Set replaces a service's
// endpoints and notifies watchers, which is how tests and config reloads
// change endpoints under a running client.
type StaticResolver struct {
	mu       sync.Mutex
	services map[string][]Endpoint
	watchers map[string]map[chan []Endpoint]struct{}
}

// NewStaticResolver serves the given map (copied).
func NewStaticResolver(services map[string][]Endpoint) *StaticResolver {
	r := &StaticResolver{services: map[string][]Endpoint{}, watchers: map[string]map[chan []Endpoint]struct{}{}}
	for name, eps := range services {
		r.services[name] = slices.Clone(eps)
	}
	return r
}

// StaticConfig is the file form of a StaticResolver:
//
//	services:
//	  orders:
//	    - address: 10.0.0.1:8080
//	    - address: 10.0.0.2:8080
//	      weight: 2
type StaticConfig struct {
	Services map[string][]Endpoint `yaml:"services" json:"services"`
}

// LoadStaticResolver reads a StaticConfig from a YAML (or JSON) file,
// strictly: an unknown field is an error, as a typo should be.
func LoadStaticResolver(path string) (*StaticResolver, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client: static resolver: %w", err)
	}
	var c StaticConfig
	if err := yaml.UnmarshalWithOptions(b, &c, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("client: static resolver %s: %w", path, err)
	}
	for name, eps := range c.Services {
		if err := validateEndpoints(eps); err != nil {
			return nil, fmt.Errorf("client: static resolver %s: service %q: %w", path, name, err)
		}
	}
	return NewStaticResolver(c.Services), nil
}

func validateEndpoints(eps []Endpoint) error {
	for i, ep := range eps {
		host, port, err := net.SplitHostPort(ep.Address)
		if err != nil || host == "" {
			return fmt.Errorf("endpoint %d: address %q must be host:port", i, ep.Address)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("endpoint %d: bad port in %q", i, ep.Address)
		}
		if ep.Weight < 0 {
			return fmt.Errorf("endpoint %d: weight %d is negative", i, ep.Weight)
		}
	}
	return nil
}

// Resolve implements Resolver.
func (r *StaticResolver) Resolve(_ context.Context, service string) ([]Endpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	eps, ok := r.services[service]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownService, service)
	}
	return slices.Clone(eps), nil
}

// Watch implements Resolver. A slow reader only ever misses intermediate
// lists: the newest one replaces any unread one.
func (r *StaticResolver) Watch(ctx context.Context, service string) (<-chan []Endpoint, error) {
	ch := make(chan []Endpoint, 1)
	r.mu.Lock()
	eps, ok := r.services[service]
	if !ok {
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrUnknownService, service)
	}
	ch <- slices.Clone(eps)
	if r.watchers[service] == nil {
		r.watchers[service] = map[chan []Endpoint]struct{}{}
	}
	r.watchers[service][ch] = struct{}{}
	r.mu.Unlock()
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		delete(r.watchers[service], ch)
		close(ch)
		r.mu.Unlock()
	}()
	return ch, nil
}

// Set replaces the endpoints of service (adding it if new) and notifies
// its watchers.
func (r *StaticResolver) Set(service string, eps []Endpoint) error {
	if err := validateEndpoints(eps); err != nil {
		return fmt.Errorf("client: service %q: %w", service, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.services[service] = slices.Clone(eps)
	for ch := range r.watchers[service] {
		select { // drop an unread older list, keep the newest
		case <-ch:
		default:
		}
		ch <- slices.Clone(eps)
	}
	return nil
}
