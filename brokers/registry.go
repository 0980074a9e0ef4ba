package brokers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
)

// Config names one broker connection, as meshd's config lists them:
//
//	brokers:
//	  - name: orders
//	    type: rabbitmq
//	    url: amqp://guest:guest@127.0.0.1:5672/
//	    options: { ... adapter specific, decoded strictly ... }
type Config struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	URL     string          `json:"url"`
	Options json.RawMessage `json:"options,omitempty"`
}

// Env carries what the host gives every adapter it builds.
type Env struct {
	Metrics *Metrics     // may be nil
	Logger  *slog.Logger // nil means slog.Default()
}

// Log returns the logger to use, never nil.
func (e Env) Log() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

// Factory builds a Broker from its config. It validates the config and
// connects (so a bad URL, bad credentials or a missing exchange fail here,
// at start), and has no other side effect.
type Factory func(ctx context.Context, cfg Config, env Env) (Broker, error)

var (
	regMu     sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes an adapter available under a type name. Adapters call it
// from init, so importing an adapter package is enough to enable it; it
// panics on a duplicate name, which is a programming error.
func Register(typ string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := factories[typ]; dup {
		panic("brokers: adapter type registered twice: " + typ)
	}
	factories[typ] = f
}

// Types lists the registered adapter type names, sorted.
func Types() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	ts := make([]string, 0, len(factories))
	for t := range factories {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Open builds one broker from cfg with the registered adapter for cfg.Type.
func Open(ctx context.Context, cfg Config, env Env) (Broker, error) {
	if cfg.Name == "" {
		return nil, NewError("open", "", "", ErrBadInput, errors.New("broker name is empty"))
	}
	regMu.RLock()
	f, ok := factories[cfg.Type]
	regMu.RUnlock()
	if !ok {
		return nil, NewError("open", cfg.Name, "", ErrBadInput,
			fmt.Errorf("unknown broker type %q (known: %v)", cfg.Type, Types()))
	}
	b, err := f(ctx, cfg, env)
	if err != nil {
		return nil, fmt.Errorf("open broker %q (%s): %w", cfg.Name, cfg.Type, err)
	}
	return b, nil
}

// DecodeOptions decodes an adapter's options strictly: an unknown field is
// an error (naming the field), so a typo in config fails at start instead of
// being silently ignored.
func DecodeOptions(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: options: %v", ErrBadInput, err)
	}
	return nil
}

// Set is the brokers meshd holds, by name.
type Set struct {
	mu      sync.RWMutex
	brokers map[string]Broker
	order   []string
}

// OpenAll opens every configured broker; on the first failure it closes
// those already opened and returns the error, so a half-started set never
// escapes.
func OpenAll(ctx context.Context, cfgs []Config, env Env) (*Set, error) {
	s := &Set{brokers: map[string]Broker{}}
	for _, c := range cfgs {
		if _, dup := s.brokers[c.Name]; dup {
			_ = s.Close(ctx)
			return nil, NewError("open", c.Name, "", ErrBadInput, errors.New("duplicate broker name"))
		}
		b, err := Open(ctx, c, env)
		if err != nil {
			_ = s.Close(ctx)
			return nil, err
		}
		s.brokers[c.Name] = b
		s.order = append(s.order, c.Name)
	}
	return s, nil
}

// Get returns the broker named name.
func (s *Set) Get(name string) (Broker, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.brokers[name]
	return b, ok
}

// Names lists the brokers in config order.
func (s *Set) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.order)
}

// Health checks every broker and returns the failures by name (empty when
// all are healthy), for meshd's /ready.
func (s *Set) Health(ctx context.Context) map[string]error {
	out := map[string]error{}
	for _, n := range s.Names() {
		b, _ := s.Get(n)
		if err := b.Health(ctx); err != nil {
			out[n] = err
		}
	}
	return out
}

// Close closes every broker, in reverse order, and joins their errors.
func (s *Set) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for i := len(s.order) - 1; i >= 0; i-- {
		if err := s.brokers[s.order[i]].Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.order[i], err))
		}
	}
	s.brokers, s.order = map[string]Broker{}, nil
	return errors.Join(errs...)
}
