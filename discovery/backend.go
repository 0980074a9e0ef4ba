package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Builder makes a backend from its config. A backend package registers one
// Builder in its init function; the config then names it.
type Builder interface {
	// Name is the value of `backend:` in the config ("consul", "etcd").
	Name() string
	// Build decodes opts strictly (an unknown key is an error wrapping
	// ErrInvalid) and returns a started Registry. ctx bounds the build only,
	// not the registry's life.
	Build(ctx context.Context, opts map[string]any) (Registry, error)
}

var (
	buildersMu sync.RWMutex
	builders   = map[string]Builder{}
)

// RegisterBackend makes b available to Open under b.Name(). It is meant for
// init functions and panics on an empty or duplicate name, as both are
// programming errors.
func RegisterBackend(b Builder) {
	buildersMu.Lock()
	defer buildersMu.Unlock()
	name := b.Name()
	if name == "" {
		panic("discovery: RegisterBackend with an empty name")
	}
	if _, dup := builders[name]; dup {
		panic("discovery: backend " + name + " registered twice")
	}
	builders[name] = b
}

// Backends lists the registered backend names, sorted, for error messages
// and `meshctl`.
func Backends() []string {
	buildersMu.RLock()
	defer buildersMu.RUnlock()
	names := make([]string, 0, len(builders))
	for n := range builders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupBackend returns the Builder registered under name.
func LookupBackend(name string) (Builder, bool) {
	buildersMu.RLock()
	defer buildersMu.RUnlock()
	b, ok := builders[name]
	return b, ok
}

// BackendConfig is the connection config of one backend, as written in the
// config file:
//
//	backend: consul
//	options: {address: 127.0.0.1:8500, datacenter: dc1}
type BackendConfig struct {
	// Backend is a registered backend name.
	Backend string `json:"backend" yaml:"backend"`
	// Options are the backend's own settings, decoded strictly by it.
	Options map[string]any `json:"options,omitempty" yaml:"options,omitempty"`
}

// Open builds the backend cfg names. An unknown backend yields ErrInvalid
// with the list of known ones.
func Open(ctx context.Context, cfg BackendConfig) (Registry, error) {
	b, ok := LookupBackend(cfg.Backend)
	if !ok {
		return nil, fmt.Errorf("%w: unknown discovery backend %q (known: %s)",
			ErrInvalid, cfg.Backend, strings.Join(Backends(), ", "))
	}
	r, err := b.Build(ctx, cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("discovery: build backend %q: %w", cfg.Backend, err)
	}
	return r, nil
}

// Target is what a cluster asks of discovery:
//
//	discovery: {backend: consul, service: api, tags: [v2]}
type Target struct {
	// Backend names one configured backend; Backends names several (their
	// instances are merged). Exactly one of the two is set.
	Backend  string   `json:"backend,omitempty" yaml:"backend,omitempty"`
	Backends []string `json:"backends,omitempty" yaml:"backends,omitempty"`
	// Service is the service name to watch.
	Service string `json:"service" yaml:"service"`
	// Tags and Metadata filter the instances (all must match).
	Tags     []string          `json:"tags,omitempty" yaml:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty" yaml:"metadata,omitempty"`
}

// Names returns the backends the target reads from.
func (t Target) Names() []string {
	if t.Backend != "" {
		return []string{t.Backend}
	}
	return slices.Clone(t.Backends)
}

// Filter returns the filter the target's tags and metadata describe.
func (t Target) Filter() Filter {
	return Filter{Tags: t.Tags, Metadata: t.Metadata}
}

// Validate reports a target that cannot work, before any backend is built.
func (t Target) Validate() error {
	switch {
	case t.Service == "":
		return fmt.Errorf("%w: discovery target has no service", ErrInvalid)
	case t.Backend == "" && len(t.Backends) == 0:
		return fmt.Errorf("%w: discovery target %q names no backend", ErrInvalid, t.Service)
	case t.Backend != "" && len(t.Backends) > 0:
		return fmt.Errorf("%w: discovery target %q sets both backend and backends", ErrInvalid, t.Service)
	}
	return nil
}

// DecodeOptions decodes a backend's options into the struct pointed to by
// into, rejecting unknown keys, so a typo in the config is an error and not
// a silently ignored setting. Backends call it from Build.
func DecodeOptions(opts map[string]any, into any) error {
	if opts == nil {
		opts = map[string]any{}
	}
	raw, err := json.Marshal(opts)
	if err != nil {
		return fmt.Errorf("%w: options: %v", ErrInvalid, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("%w: options: %v", ErrInvalid, err)
	}
	return nil
}

// Duration is a time.Duration written in config as a Go duration string
// ("5s", "1m30s").
type Duration time.Duration

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalText accepts a duration string (YAML decoders use it).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
