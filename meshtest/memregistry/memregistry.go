package memregistry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

// BackendName is the discovery backend name this package registers.
const BackendName = "memory"

// Op names the Registry calls a fault hook applies to; values combine
// with |.
type Op uint8

// The calls FailNext can target.
const (
	OpRegister Op = 1 << iota
	OpDeregister
	OpSetStatus
	OpResolve
	OpWatch
	OpHealth
	// AnyOp is every call.
	AnyOp = OpRegister | OpDeregister | OpSetStatus | OpResolve | OpWatch | OpHealth
)

var opNames = map[Op]string{
	OpRegister: "register", OpDeregister: "deregister", OpSetStatus: "set status",
	OpResolve: "resolve", OpWatch: "watch", OpHealth: "health",
}

type key struct{ service, id string }

type entry struct {
	inst    discovery.Instance
	healthy bool
	owner   *Registry
	expire  *time.Timer // set once the owner crashed and the instance has a TTL
}

// Backend is the shared state: the instances and the open watches. It is
// safe for concurrent use. Build it with New or Start.
type Backend struct {
	name string

	mu       sync.Mutex
	entries  map[key]*entry
	watchers map[*watcher]struct{}
	failOps  Op
	failN    int
	failErr  error
	down     error
	delay    time.Duration
	closed   bool
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*Backend{}
)

// New returns an empty Backend, reachable from meshd configs as backend
// "memory" with option name = b.Name() until Close.
func New() *Backend {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	b := &Backend{
		name:     "memregistry-" + hex.EncodeToString(rnd[:]),
		entries:  map[key]*entry{},
		watchers: map[*watcher]struct{}{},
	}
	sharedMu.Lock()
	shared[b.name] = b
	sharedMu.Unlock()
	return b
}

// Start is New for a test: the Backend is closed at t.Cleanup.
func Start(t testing.TB) *Backend {
	t.Helper()
	b := New()
	t.Cleanup(b.Close)
	return b
}

// Name is the value of the "name" option that makes a meshd config use
// this Backend.
func (b *Backend) Name() string { return b.name }

// Close ends every watch and makes the Backend unknown to configs. The
// Registries opened on it fail with discovery.ErrClosed afterwards.
func (b *Backend) Close() {
	sharedMu.Lock()
	delete(shared, b.name)
	sharedMu.Unlock()
	b.mu.Lock()
	b.closed = true
	ws := b.watchersLocked("")
	for _, e := range b.entries {
		if e.expire != nil {
			e.expire.Stop()
		}
	}
	b.mu.Unlock()
	for _, w := range ws {
		w.drop()
	}
}

// Registry opens a client on the Backend. Its Close deregisters what it
// registered; Crash does not.
func (b *Backend) Registry() *Registry {
	return &Registry{b: b, own: map[string]string{}, done: make(chan struct{})}
}

// Add makes inst exist without any Registry owning it, as a platform
// (Kubernetes, a config file) would: it never expires and Close of a
// Registry does not remove it.
func (b *Backend) Add(inst discovery.Instance) error {
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("memregistry: add: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.putLocked(inst, nil)
	return nil
}

// Remove deletes an instance whoever added it; removing an unknown one
// yields discovery.ErrNotFound.
func (b *Backend) Remove(service, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.entries[key{service, id}]; !ok {
		return fmt.Errorf("memregistry: remove %s/%s: %w", service, id, discovery.ErrNotFound)
	}
	b.deleteLocked(key{service, id})
	return nil
}

// SetHealthy flips an instance between serving and not serving, whoever
// added it.
func (b *Backend) SetHealthy(service, id string, healthy bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key{service, id}]
	if !ok {
		return fmt.Errorf("memregistry: set healthy %s/%s: %w", service, id, discovery.ErrNotFound)
	}
	if e.healthy != healthy {
		e.healthy = healthy
		b.notifyLocked(service)
	}
	return nil
}

// FailNext makes the next n calls among ops (AnyOp for all), on any
// Registry of this Backend, fail with err; a nil err means
// discovery.ErrUnavailable. It replaces a previous FailNext.
func (b *Backend) FailNext(ops Op, n int, err error) {
	if err == nil {
		err = discovery.ErrUnavailable
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failOps, b.failN, b.failErr = ops, n, err
}

// SetDown makes the Backend unreachable while err is not nil: every call
// fails with an error wrapping discovery.ErrUnavailable and err, and every
// open watch receives an Update carrying that error and the last set.
// SetDown(nil) recovers: watches receive the current set with a nil Err.
func (b *Backend) SetDown(err error) {
	if err != nil && !errors.Is(err, discovery.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", discovery.ErrUnavailable, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down == nil && err == nil {
		return
	}
	b.down = err
	for w := range b.watchers {
		b.pushLocked(w)
	}
}

// DelayUpdates makes every later change reach watches d after it happened
// (Resolve sees it at once), as a backend whose watch trails its reads.
// Zero turns the delay off.
func (b *Backend) DelayUpdates(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delay = d
}

// DropWatches closes the channels of the open watches of service (every
// service when it is ""), as a backend that lost its stream: the watcher
// must call Watch again. It returns how many it dropped.
func (b *Backend) DropWatches(service string) int {
	b.mu.Lock()
	ws := b.watchersLocked(service)
	b.mu.Unlock()
	for _, w := range ws {
		w.drop()
	}
	return len(ws)
}

// Watchers counts the open watches of service (every service when it is
// ""), so a test can wait until the code under test watches before it
// changes something.
func (b *Backend) Watchers(service string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.watchersLocked(service))
}

func (b *Backend) watchersLocked(service string) []*watcher {
	var out []*watcher
	for w := range b.watchers {
		if service == "" || w.service == service {
			out = append(out, w)
		}
	}
	return out
}

// fault returns the error a call must fail with, if any.
func (b *Backend) fault(op Op) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return fmt.Errorf("memregistry: %s: %w", opNames[op], discovery.ErrClosed)
	case b.down != nil:
		return fmt.Errorf("memregistry: %s: %w", opNames[op], b.down)
	case b.failN > 0 && b.failOps&op != 0:
		b.failN--
		return fmt.Errorf("memregistry: %s: injected failure: %w", opNames[op], b.failErr)
	}
	return nil
}

func (b *Backend) putLocked(inst discovery.Instance, owner *Registry) {
	inst = inst.Clone()
	inst.Source = BackendName
	k := key{inst.Service, inst.ID}
	if old, ok := b.entries[k]; ok {
		if old.expire != nil {
			old.expire.Stop()
		}
		if old.owner != nil && old.owner != owner {
			old.owner.forget(inst.ID, inst.Service)
		}
	}
	// A fresh registration is healthy, as with Consul and etcd.
	b.entries[k] = &entry{inst: inst, healthy: true, owner: owner}
	b.notifyLocked(inst.Service)
}

func (b *Backend) deleteLocked(k key) {
	e, ok := b.entries[k]
	if !ok {
		return
	}
	if e.expire != nil {
		e.expire.Stop()
	}
	delete(b.entries, k)
	b.notifyLocked(k.service)
}

func (b *Backend) setLocked(inst []discovery.Instance, service string, f discovery.Filter) []discovery.Instance {
	for _, e := range b.entries {
		if e.inst.Service == service && e.healthy && f.Match(e.inst) {
			inst = append(inst, e.inst.Clone())
		}
	}
	discovery.SortInstances(inst)
	return inst
}

func (b *Backend) notifyLocked(service string) {
	for w := range b.watchers {
		if w.service == service {
			b.pushLocked(w)
		}
	}
}

// pushLocked queues w's current view, due after the configured delay.
func (b *Backend) pushLocked(w *watcher) {
	u := discovery.Update{Instances: b.setLocked([]discovery.Instance{}, w.service, w.filter), Err: b.down}
	w.enqueue(u, time.Now().Add(b.delay))
}

// Registry is one client of a Backend; it implements discovery.Registry.
type Registry struct {
	b    *Backend
	mu   sync.Mutex
	own  map[string]string // id → service, of what this client registered
	once sync.Once
	done chan struct{}
}

var _ discovery.Registry = (*Registry)(nil)

func (r *Registry) check(ctx context.Context, op Op) error {
	select {
	case <-r.done:
		return fmt.Errorf("memregistry: %s: %w", opNames[op], discovery.ErrClosed)
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memregistry: %s: %w", opNames[op], err)
	}
	return r.b.fault(op)
}

// Register announces inst until Deregister, Close or (with a Check.TTL)
// TTL after Crash. Registering the same ID again replaces it.
func (r *Registry) Register(ctx context.Context, inst discovery.Instance) error {
	if err := r.check(ctx, OpRegister); err != nil {
		return err
	}
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("memregistry: register: %w", err)
	}
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.mu.Lock()
	prev, had := r.own[inst.ID]
	r.own[inst.ID] = inst.Service
	r.mu.Unlock()
	if had && prev != inst.Service {
		r.b.deleteLocked(key{prev, inst.ID})
	}
	r.b.putLocked(inst, r)
	return nil
}

// forget drops id from r's own set when another client took it over.
func (r *Registry) forget(id, service string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.own[id] == service {
		delete(r.own, id)
	}
}

func (r *Registry) owned(id string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.own[id]
	return s, ok
}

// Deregister removes an instance this client registered.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	if err := r.check(ctx, OpDeregister); err != nil {
		return err
	}
	service, ok := r.owned(id)
	if !ok {
		return fmt.Errorf("memregistry: deregister %q: %w", id, discovery.ErrNotFound)
	}
	r.mu.Lock()
	delete(r.own, id)
	r.mu.Unlock()
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	if e, ok := r.b.entries[key{service, id}]; ok && e.owner == r {
		r.b.deleteLocked(key{service, id})
	}
	return nil
}

// SetStatus marks an instance this client registered healthy or not.
func (r *Registry) SetStatus(ctx context.Context, id string, s discovery.Status) error {
	if err := r.check(ctx, OpSetStatus); err != nil {
		return err
	}
	service, ok := r.owned(id)
	if !ok {
		return fmt.Errorf("memregistry: set status %q: %w", id, discovery.ErrNotFound)
	}
	if err := r.b.SetHealthy(service, id, s == discovery.StatusHealthy); err != nil {
		return fmt.Errorf("memregistry: set status: %w", err)
	}
	return nil
}

// Resolve returns the healthy instances of service that match f.
func (r *Registry) Resolve(ctx context.Context, service string, f discovery.Filter) ([]discovery.Instance, error) {
	if err := r.check(ctx, OpResolve); err != nil {
		return nil, err
	}
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	return r.b.setLocked([]discovery.Instance{}, service, f), nil
}

// Watch streams the healthy instances of service that match f, keeping
// only the newest unread Update; see the Backend's hooks for the faults it
// can show.
func (r *Registry) Watch(ctx context.Context, service string, f discovery.Filter) (<-chan discovery.Update, error) {
	if err := r.check(ctx, OpWatch); err != nil {
		return nil, err
	}
	w := &watcher{
		service: service, filter: f,
		ch: make(chan discovery.Update, 1), wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	r.b.mu.Lock()
	r.b.watchers[w] = struct{}{}
	// The first set is due at once: a delay applies to changes only.
	w.enqueue(discovery.Update{Instances: r.b.setLocked([]discovery.Instance{}, service, f), Err: r.b.down}, time.Now())
	r.b.mu.Unlock()
	go func() {
		w.run(ctx, r.done)
		r.b.mu.Lock()
		delete(r.b.watchers, w)
		r.b.mu.Unlock()
	}()
	return w.ch, nil
}

// Health is nil unless the Backend is down, closed or failing on purpose.
func (r *Registry) Health(ctx context.Context) error {
	return r.check(ctx, OpHealth)
}

// Close deregisters what this client registered and ends its watches.
func (r *Registry) Close() error {
	r.stop(true)
	return nil
}

// Crash stops the client as if its process died: its watches end, nothing
// is deregistered, and each of its instances with a Check.TTL expires TTL
// later (those without one stay, as with a backend that has no leases).
func (r *Registry) Crash() { r.stop(false) }

func (r *Registry) stop(deregister bool) {
	r.once.Do(func() {
		close(r.done)
		r.b.mu.Lock()
		defer r.b.mu.Unlock()
		r.mu.Lock()
		defer r.mu.Unlock()
		for id, service := range r.own {
			k := key{service, id}
			e, ok := r.b.entries[k]
			if !ok || e.owner != r {
				continue
			}
			switch {
			case deregister:
				r.b.deleteLocked(k)
			case e.inst.Check.TTL > 0:
				e.expire = time.AfterFunc(e.inst.Check.TTL, func() {
					r.b.mu.Lock()
					defer r.b.mu.Unlock()
					if cur, ok := r.b.entries[k]; ok && cur == e {
						r.b.deleteLocked(k)
					}
				})
			}
		}
		r.own = map[string]string{}
	})
}

type builder struct{}

func (builder) Name() string { return BackendName }

// Options is the "memory" backend's options block.
type Options struct {
	// Name is the Backend's Name().
	Name string `json:"name"`
}

func (builder) Build(_ context.Context, opts map[string]any) (discovery.Registry, error) {
	var o Options
	if err := discovery.DecodeOptions(opts, &o); err != nil {
		return nil, fmt.Errorf("memregistry: %w", err)
	}
	sharedMu.Lock()
	b, ok := shared[o.Name]
	sharedMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("memregistry: %w: no open Backend named %q", discovery.ErrInvalid, o.Name)
	}
	return b.Registry(), nil
}

func init() { discovery.RegisterBackend(builder{}) }
