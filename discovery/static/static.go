package static

import (
	"context"
	"fmt"
	"sync"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/internal/watch"
)

// Name is the backend name used in config.
const Name = "static"

func init() { discovery.RegisterBackend(builder{}) }

// Config is the backend's options block.
type Config struct {
	// Instances is the whole, fixed instance list.
	Instances []InstanceConfig `json:"instances"`
}

// InstanceConfig is one instance as written in config.
type InstanceConfig struct {
	Service  string            `json:"service"`
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Port     int               `json:"port"`
	Version  string            `json:"version,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Registry serves a fixed list. It is safe for concurrent use.
type Registry struct {
	byService map[string][]discovery.Instance
	once      sync.Once
	done      chan struct{}
}

var _ discovery.Registry = (*Registry)(nil)

// New validates cfg and returns a registry serving it. Duplicate ids within
// a service are rejected (ErrConflict) since they would make the list
// ambiguous.
func New(cfg Config) (*Registry, error) {
	r := &Registry{byService: map[string][]discovery.Instance{}, done: make(chan struct{})}
	seen := map[string]bool{}
	for _, ic := range cfg.Instances {
		inst := discovery.Instance{
			Service: ic.Service, ID: ic.ID, Address: ic.Address, Port: ic.Port,
			Version: ic.Version, Tags: ic.Tags, Metadata: ic.Metadata, Source: Name,
		}
		if err := inst.Validate(); err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
		key := inst.Service + "\x00" + inst.ID
		if seen[key] {
			return nil, fmt.Errorf("static: %w: instance id %q listed twice for service %q",
				discovery.ErrConflict, inst.ID, inst.Service)
		}
		seen[key] = true
		r.byService[inst.Service] = append(r.byService[inst.Service], inst.Clone())
	}
	for _, list := range r.byService {
		discovery.SortInstances(list)
	}
	return r, nil
}

// Register is unsupported: the config owns the list.
func (r *Registry) Register(context.Context, discovery.Instance) error {
	return fmt.Errorf("static: register: %w", discovery.ErrUnsupported)
}

// Deregister is unsupported: the config owns the list.
func (r *Registry) Deregister(context.Context, string) error {
	return fmt.Errorf("static: deregister: %w", discovery.ErrUnsupported)
}

// SetStatus is unsupported: a static instance is always taken as healthy
// (meshd's active health checks still eject it from load balancing).
func (r *Registry) SetStatus(context.Context, string, discovery.Status) error {
	return fmt.Errorf("static: set status: %w", discovery.ErrUnsupported)
}

// Resolve returns the listed instances of service that match f.
func (r *Registry) Resolve(ctx context.Context, service string, f discovery.Filter) ([]discovery.Instance, error) {
	select {
	case <-r.done:
		return nil, fmt.Errorf("static: resolve: %w", discovery.ErrClosed)
	default:
	}
	return r.resolve(service, f), nil
}

func (r *Registry) resolve(service string, f discovery.Filter) []discovery.Instance {
	out := f.Apply(r.byService[service])
	for i := range out {
		out[i] = out[i].Clone()
	}
	return out
}

// Watch sends the listed set once and keeps the channel open until ctx
// ends or the registry is closed: the list never changes.
func (r *Registry) Watch(ctx context.Context, service string, f discovery.Filter) (<-chan discovery.Update, error) {
	select {
	case <-r.done:
		return nil, fmt.Errorf("static: watch: %w", discovery.ErrClosed)
	default:
	}
	s := watch.NewSender()
	s.Send(discovery.Update{Instances: r.resolve(service, f)})
	go func() {
		defer s.Close()
		select {
		case <-ctx.Done():
		case <-r.done:
		}
	}()
	return s.C(), nil
}

// Health is always nil: there is nothing to reach.
func (r *Registry) Health(context.Context) error { return nil }

// Close ends every watch.
func (r *Registry) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

type builder struct{}

func (builder) Name() string { return Name }

func (builder) Build(_ context.Context, opts map[string]any) (discovery.Registry, error) {
	var cfg Config
	if err := discovery.DecodeOptions(opts, &cfg); err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return New(cfg)
}
