package multi

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasmesh/wasmesh/discovery"
)

// Config is the backend's options block:
//
//	backend: multi
//	options:
//	  keep_stale_for: 30s
//	  backends:
//	    - {name: consul, backend: consul, options: {address: 127.0.0.1:8500}}
//	    - {name: k8s, backend: kubernetes, options: {namespace: shop}}
type Config struct {
	Backends []MemberConfig `json:"backends"`
	// KeepStaleFor is how long a failing backend's last instances are
	// kept; default 30s, "0s" drops them at once.
	KeepStaleFor *discovery.Duration `json:"keep_stale_for,omitempty"`
	// HealthInterval is how often members are probed; default 5s.
	HealthInterval discovery.Duration `json:"health_interval,omitempty"`
}

// MemberConfig is one backend of the set.
type MemberConfig struct {
	// Name labels the member; default: the backend name.
	Name    string         `json:"name,omitempty"`
	Backend string         `json:"backend"`
	Options map[string]any `json:"options,omitempty"`
}

// Open builds every member from cfg and merges them; on error, the
// members already built are closed.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Registry, error) {
	var members []Member
	closeAll := func() {
		for _, m := range members {
			_ = m.Registry.Close()
		}
	}
	for _, mc := range cfg.Backends {
		if mc.Backend == Name {
			closeAll()
			return nil, fmt.Errorf("multi: %w: a multi backend cannot contain another", discovery.ErrInvalid)
		}
		reg, err := discovery.Open(ctx, discovery.BackendConfig{Backend: mc.Backend, Options: mc.Options})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("multi: %w", err)
		}
		name := mc.Name
		if name == "" {
			name = mc.Backend
		}
		members = append(members, Member{Name: name, Registry: reg})
	}
	if cfg.KeepStaleFor != nil {
		opts = append([]Option{WithKeepStaleFor(cfg.KeepStaleFor.Std())}, opts...)
	}
	if cfg.HealthInterval > 0 {
		opts = append([]Option{WithHealthInterval(cfg.HealthInterval.Std())}, opts...)
	}
	r, err := New(members, opts...)
	if err != nil {
		closeAll()
		return nil, err
	}
	return r, nil
}

type builder struct{}

func (builder) Name() string { return Name }

func (builder) Build(ctx context.Context, opts map[string]any) (discovery.Registry, error) {
	var cfg Config
	if err := discovery.DecodeOptions(opts, &cfg); err != nil {
		return nil, fmt.Errorf("multi: %w", err)
	}
	if len(cfg.Backends) == 0 {
		return nil, fmt.Errorf("multi: %w", errors.Join(discovery.ErrInvalid, errors.New("backends is required")))
	}
	return Open(ctx, cfg)
}
