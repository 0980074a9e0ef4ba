package multi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

// Name is the backend name used in config.
const Name = "multi"

func init() { discovery.RegisterBackend(builder{}) }

// DefaultMetrics receives the metrics of registries built without
// WithMetrics (those built from config). Register it once.
var DefaultMetrics = NewMetrics("wasmesh")

// Member is one backend of a multi registry.
type Member struct {
	// Name labels the member in Instance.Source, Status and metrics; it
	// must be unique ("consul", "k8s-eu").
	Name     string
	Registry discovery.Registry
}

// MemberStatus is a member's health as last seen.
type MemberStatus struct {
	Name string
	// Err is nil while the member answers.
	Err error
	// Since is when the member last changed between answering and failing.
	Since time.Time
}

// Option tunes a multi registry.
type Option func(*options)

type options struct {
	keepStale      time.Duration
	healthInterval time.Duration
	initialWait    time.Duration
	memberTimeout  time.Duration
	metrics        *Metrics
	log            *slog.Logger
	borrowed       bool
}

// WithKeepStaleFor sets how long the last known instances of a failing
// member are still served; default 30s. Zero drops them at once.
func WithKeepStaleFor(d time.Duration) Option { return func(o *options) { o.keepStale = d } }

// WithHealthInterval sets how often members are probed; default 5s.
func WithHealthInterval(d time.Duration) Option { return func(o *options) { o.healthInterval = d } }

// WithInitialWait bounds how long a Watch waits for every member's first
// set before sending a merged set without the silent ones; default 5s.
func WithInitialWait(d time.Duration) Option { return func(o *options) { o.initialWait = d } }

// WithMemberTimeout bounds each member's part of Resolve and Health, so a
// hanging backend costs at most this long; default 2s.
func WithMemberTimeout(d time.Duration) Option { return func(o *options) { o.memberTimeout = d } }

// WithBorrowedMembers leaves the members open on Close, for members shared
// with other users (one Consul connection serving several clusters).
func WithBorrowedMembers() Option { return func(o *options) { o.borrowed = true } }

// WithMetrics sends metrics to m instead of DefaultMetrics.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// Registry merges its members. It owns them (Close closes them) unless
// built WithBorrowedMembers.
type Registry struct {
	members []*member
	o       options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	cacheMu sync.Mutex
	cache   map[string]cached // Resolve results by member, service, filter
}

type member struct {
	Member
	mu    sync.Mutex
	err   error
	since time.Time
}

type cached struct {
	set       []discovery.Instance
	failSince time.Time // zero while the member answers
}

var _ discovery.Registry = (*Registry)(nil)

// New merges members (at least one, unique names).
func New(members []Member, opts ...Option) (*Registry, error) {
	o := options{keepStale: 30 * time.Second, healthInterval: 5 * time.Second, initialWait: 5 * time.Second,
		memberTimeout: 2 * time.Second, metrics: DefaultMetrics, log: slog.Default().With("discovery", Name)}
	for _, opt := range opts {
		opt(&o)
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("multi: %w: no backends", discovery.ErrInvalid)
	}
	r := &Registry{o: o, cache: map[string]cached{}}
	seen := map[string]bool{}
	now := time.Now()
	for _, m := range members {
		if m.Name == "" || m.Registry == nil {
			return nil, fmt.Errorf("multi: %w: a backend needs a name and a registry", discovery.ErrInvalid)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("multi: %w: backend name %q used twice", discovery.ErrInvalid, m.Name)
		}
		seen[m.Name] = true
		r.members = append(r.members, &member{Member: m, since: now})
		o.metrics.up.WithLabelValues(m.Name).Set(1)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.monitor()
	return r, nil
}

func (r *Registry) setHealth(m *member, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if (err == nil) != (m.err == nil) {
		m.since = time.Now()
		if err != nil {
			r.o.metrics.failures.WithLabelValues(m.Name).Inc()
			r.o.metrics.up.WithLabelValues(m.Name).Set(0)
			r.o.log.Warn("discovery backend failing", "backend", m.Name, "err", err)
		} else {
			r.o.metrics.up.WithLabelValues(m.Name).Set(1)
			r.o.log.Info("discovery backend answering again", "backend", m.Name)
		}
	}
	m.err = err
}

func (r *Registry) probe(ctx context.Context) error {
	errs := make([]error, len(r.members))
	var wg sync.WaitGroup
	for i, m := range r.members {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, r.o.memberTimeout)
			defer cancel()
			err := m.Registry.Health(pctx)
			if ctx.Err() != nil {
				return
			}
			r.setHealth(m, err)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", m.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Registry) monitor() {
	defer r.wg.Done()
	t := time.NewTicker(r.o.healthInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			_ = r.probe(r.ctx)
		}
	}
}

// Health probes every member; the error names the failing ones and wraps
// their errors (so errors.Is(err, discovery.ErrUnavailable) holds).
func (r *Registry) Health(ctx context.Context) error {
	if err := r.probe(ctx); err != nil {
		return fmt.Errorf("multi: health: %w", err)
	}
	return nil
}

// Status returns each member's last known health, in config order (for
// /ready and meshctl).
func (r *Registry) Status() []MemberStatus {
	out := make([]MemberStatus, 0, len(r.members))
	for _, m := range r.members {
		m.mu.Lock()
		out = append(out, MemberStatus{Name: m.Name, Err: m.err, Since: m.since})
		m.mu.Unlock()
	}
	return out
}

// each runs op on every member that supports registration; ErrUnsupported
// only when none does, ErrNotFound only when every supporting one says so.
func (r *Registry) each(what string, op func(discovery.Registry) error) error {
	var errs []error
	supported, notFound := 0, 0
	for _, m := range r.members {
		err := op(m.Registry)
		switch {
		case errors.Is(err, discovery.ErrUnsupported):
			continue
		case errors.Is(err, discovery.ErrNotFound):
			notFound++
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
		}
		supported++
	}
	switch {
	case supported == 0:
		return fmt.Errorf("multi: %s: %w (no backend accepts it)", what, discovery.ErrUnsupported)
	case notFound == supported:
		return fmt.Errorf("multi: %s: %w", what, discovery.ErrNotFound)
	case len(errs) > 0:
		return fmt.Errorf("multi: %s: %w", what, errors.Join(errs...))
	}
	return nil
}

// Register registers inst in every member that accepts registrations.
func (r *Registry) Register(ctx context.Context, inst discovery.Instance) error {
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("multi: register: %w", err)
	}
	return r.each("register "+inst.ID, func(reg discovery.Registry) error { return reg.Register(ctx, inst) })
}

// Deregister deregisters id from every member that has it.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	return r.each("deregister "+id, func(reg discovery.Registry) error { return reg.Deregister(ctx, id) })
}

// SetStatus reports id's health to every member that has it.
func (r *Registry) SetStatus(ctx context.Context, id string, s discovery.Status) error {
	return r.each("set status "+id, func(reg discovery.Registry) error { return reg.SetStatus(ctx, id, s) })
}

func cacheKey(member, service string, f discovery.Filter) string {
	b, _ := json.Marshal(f) // map keys come out sorted
	return member + "\x00" + service + "\x00" + string(b)
}

// Resolve asks every member at once and merges the answers. A failing
// member contributes its last answer for the same query while that is
// younger than KeepStaleFor; only when no member answers is it an error.
func (r *Registry) Resolve(ctx context.Context, service string, f discovery.Filter) ([]discovery.Instance, error) {
	if r.ctx.Err() != nil {
		return nil, fmt.Errorf("multi: resolve: %w", discovery.ErrClosed)
	}
	sets := make([][]discovery.Instance, len(r.members))
	errs := make([]error, len(r.members))
	var wg sync.WaitGroup
	for i, m := range r.members {
		wg.Go(func() {
			// A member that hangs must not hold the others' answer.
			mctx, cancel := context.WithTimeout(ctx, r.o.memberTimeout)
			defer cancel()
			sets[i], errs[i] = m.Registry.Resolve(mctx, service, f)
		})
	}
	wg.Wait()
	now := time.Now()
	answered := 0
	r.cacheMu.Lock()
	for i, m := range r.members {
		key := cacheKey(m.Name, service, f)
		c := r.cache[key]
		if errs[i] == nil {
			answered++
			r.cache[key] = cached{set: sets[i]}
			continue
		}
		if c.failSince.IsZero() {
			c.failSince = now
			r.cache[key] = c
		}
		if now.Sub(c.failSince) < r.o.keepStale {
			sets[i] = c.set
		}
	}
	r.cacheMu.Unlock()
	if answered == 0 {
		return nil, fmt.Errorf("multi: resolve %s: %w", service, errors.Join(errs...))
	}
	return r.merge(sets), nil
}

// merge concatenates members' sets in member order, keeping the first
// instance seen at each address; Source lists every member that has it.
func (r *Registry) merge(sets [][]discovery.Instance) []discovery.Instance {
	var out []discovery.Instance
	at := map[string]int{}
	for i, set := range sets {
		name := r.members[i].Name
		for _, inst := range set {
			if j, dup := at[inst.HostPort()]; dup {
				out[j].Source += "," + name
				continue
			}
			inst = inst.Clone()
			inst.Source = name
			at[inst.HostPort()] = len(out)
			out = append(out, inst)
		}
	}
	if out == nil {
		out = []discovery.Instance{}
	}
	discovery.SortInstances(out)
	return out
}

// Close stops the probes and watches and closes every member (unless
// borrowed).
func (r *Registry) Close() error {
	var errs []error
	r.once.Do(func() {
		r.cancel()
		r.wg.Wait()
		if r.o.borrowed {
			return
		}
		for _, m := range r.members {
			if err := m.Registry.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("multi: close: %w", errors.Join(errs...))
	}
	return nil
}

func failingNames(names []string) string { return strings.Join(names, ", ") }
