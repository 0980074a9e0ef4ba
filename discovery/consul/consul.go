package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wasmesh/wasmesh/discovery"
)

// Name is the backend name used in config and in Instance.Source.
const Name = "consul"

// versionMeta is the service-meta key the instance version travels in.
const versionMeta = "version"

func init() { discovery.RegisterBackend(builder{}) }

// Registry is the Consul backend. It is safe for concurrent use.
type Registry struct {
	cfg    Config
	client *api.Client
	log    *slog.Logger

	ctx    context.Context // cancelled by Close: ends heartbeats and watches
	cancel context.CancelFunc
	wg     sync.WaitGroup

	regMu sync.Mutex // serialises Register and Deregister
	mu    sync.Mutex
	regs  map[string]*registration

	closeOnce sync.Once
}

var _ discovery.Registry = (*Registry)(nil)

type registration struct {
	mu      sync.Mutex
	inst    discovery.Instance
	checkID string
	ttl     time.Duration // zero for an HTTP check
	status  discovery.Status
	cancel  context.CancelFunc
	done    chan struct{}
}

// New makes a registry talking to the agent at cfg.Address. It does not
// contact the agent; Health does.
func New(cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	apiCfg := &api.Config{
		// The client api builds has no overall timeout, which blocking
		// queries (WaitTime plus Consul's jitter) need.
		Address: cfg.Address, Scheme: cfg.Scheme, Token: cfg.Token, Datacenter: cfg.Datacenter,
	}
	if t := cfg.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return nil, fmt.Errorf("%w: consul: tls cert_file and key_file go together", discovery.ErrInvalid)
		}
		apiCfg.TLSConfig = api.TLSConfig{Address: t.ServerName, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}
	}
	client, err := api.NewClient(apiCfg)
	if err != nil {
		return nil, fmt.Errorf("consul: client: %w: %w", discovery.ErrInvalid, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{
		cfg: cfg, client: client, log: slog.Default().With("discovery", Name),
		ctx: ctx, cancel: cancel, regs: map[string]*registration{},
	}, nil
}

// Client returns the underlying Consul client.
func (r *Registry) Client() *api.Client { return r.client }

func mapErr(op string, err error) error {
	var se api.StatusError
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("consul: %s: %w", op, err)
	case errors.As(err, &se):
		kind := discovery.ErrUnavailable
		switch se.Code {
		case http.StatusNotFound:
			kind = discovery.ErrNotFound
		case http.StatusForbidden, http.StatusUnauthorized:
			kind = discovery.ErrPermissionDenied
		case http.StatusBadRequest:
			kind = discovery.ErrInvalid
		}
		return fmt.Errorf("consul: %s: %w: %w", op, kind, err)
	default:
		return fmt.Errorf("consul: %s: %w: %w", op, discovery.ErrUnavailable, err)
	}
}

func (r *Registry) closed() bool { return r.ctx.Err() != nil }

func (r *Registry) queryOpts(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{Datacenter: r.cfg.Datacenter}).WithContext(ctx)
}

// Register adds the instance to the agent (replacing its checks if the id
// is known) and, for a TTL check, starts the heartbeat.
func (r *Registry) Register(ctx context.Context, inst discovery.Instance) error {
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("consul: register: %w", err)
	}
	if r.closed() {
		return fmt.Errorf("consul: register: %w", discovery.ErrClosed)
	}
	inst = inst.Clone()
	inst.Source = ""
	r.regMu.Lock()
	defer r.regMu.Unlock()
	old, known := r.lookup(inst.ID)
	if known && old.inst.Service != inst.Service {
		return fmt.Errorf("consul: register %s: %w: id already registered for service %q",
			inst.ID, discovery.ErrConflict, old.inst.Service)
	}
	reg := &registration{inst: inst, checkID: "service:" + inst.ID}
	if inst.Check.HTTP == "" {
		reg.ttl = inst.Check.TTL
		if reg.ttl <= 0 {
			reg.ttl = r.cfg.TTL.Std()
		}
	}
	if known {
		old.cancel()
		<-old.done
		old.mu.Lock()
		reg.status = old.status
		old.mu.Unlock()
	}
	if err := r.put(ctx, reg); err != nil {
		if known { // keep the old heartbeat going: the old registration stands
			r.startHeartbeat(old)
		}
		return err
	}
	r.mu.Lock()
	r.regs[inst.ID] = reg
	r.mu.Unlock()
	r.startHeartbeat(reg)
	return nil
}

// put sends the agent registration.
func (r *Registry) put(ctx context.Context, reg *registration) error {
	inst := reg.inst
	meta := make(map[string]string, len(inst.Metadata)+1)
	for k, v := range inst.Metadata {
		meta[k] = v
	}
	if inst.Version != "" {
		meta[versionMeta] = inst.Version
	}
	deregAfter := inst.Check.DeregisterAfter
	if deregAfter <= 0 {
		deregAfter = r.cfg.DeregisterCriticalAfter.Std()
	}
	check := &api.AgentServiceCheck{
		CheckID:                        reg.checkID,
		DeregisterCriticalServiceAfter: deregAfter.String(),
	}
	if reg.ttl > 0 {
		check.Name = "wasmesh heartbeat"
		check.TTL = reg.ttl.String()
		check.Status = api.HealthPassing
		if reg.status != discovery.StatusHealthy {
			check.Status = api.HealthCritical
		}
	} else {
		check.Name = "wasmesh http check"
		check.HTTP = inst.Check.HTTP
		check.Interval = inst.Check.Interval.String()
		check.Timeout = inst.Check.Interval.String()
	}
	svc := &api.AgentServiceRegistration{
		ID: inst.ID, Name: inst.Service, Tags: inst.Tags, Port: inst.Port,
		Address: inst.Address, Meta: meta, Check: check,
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.client.Agent().ServiceRegisterOpts(svc, opts); err != nil {
		return mapErr("register "+inst.ID, err)
	}
	if reg.ttl == 0 && reg.status != discovery.StatusHealthy {
		return r.maintenance(ctx, reg, true)
	}
	return nil
}

func (r *Registry) startHeartbeat(reg *registration) {
	ctx, cancel := context.WithCancel(r.ctx)
	reg.cancel, reg.done = cancel, make(chan struct{})
	if reg.ttl == 0 {
		close(reg.done)
		return
	}
	r.wg.Add(1)
	go r.heartbeat(ctx, reg)
}

// heartbeat updates the TTL check every TTL/3 with the instance's status;
// if the agent forgot the check (restarted without its state), it
// registers the instance again.
func (r *Registry) heartbeat(ctx context.Context, reg *registration) {
	defer r.wg.Done()
	defer close(reg.done)
	t := time.NewTicker(reg.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reg.mu.Lock()
		err := r.updateTTL(ctx, reg)
		if errors.Is(err, discovery.ErrNotFound) {
			r.log.Warn("agent lost the registration, registering again", "id", reg.inst.ID)
			err = r.put(ctx, reg)
		}
		reg.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			r.log.Warn("heartbeat failed", "id", reg.inst.ID, "err", err)
		}
	}
}

func (r *Registry) updateTTL(ctx context.Context, reg *registration) error {
	status, note := api.HealthPassing, "healthy"
	if reg.status != discovery.StatusHealthy {
		status, note = api.HealthCritical, "reported unhealthy"
	}
	if err := r.client.Agent().UpdateTTLOpts(reg.checkID, note, status, r.queryOpts(ctx)); err != nil {
		return mapErr("update ttl "+reg.checkID, err)
	}
	return nil
}

func (r *Registry) maintenance(ctx context.Context, reg *registration, on bool) error {
	var err error
	if on {
		err = r.client.Agent().EnableServiceMaintenanceOpts(reg.inst.ID, "reported unhealthy", r.queryOpts(ctx))
	} else {
		err = r.client.Agent().DisableServiceMaintenanceOpts(reg.inst.ID, r.queryOpts(ctx))
	}
	if err != nil {
		return mapErr("maintenance "+reg.inst.ID, err)
	}
	return nil
}

func (r *Registry) lookup(id string) (*registration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg, ok := r.regs[id]
	return reg, ok
}

// Deregister stops the heartbeat and removes the instance from the agent.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	r.regMu.Lock()
	defer r.regMu.Unlock()
	r.mu.Lock()
	reg, ok := r.regs[id]
	delete(r.regs, id)
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("consul: deregister %q: %w", id, discovery.ErrNotFound)
	}
	return r.drop(ctx, reg)
}

func (r *Registry) drop(ctx context.Context, reg *registration) error {
	reg.cancel()
	<-reg.done
	err := r.client.Agent().ServiceDeregisterOpts(reg.inst.ID, r.queryOpts(ctx))
	if err != nil {
		err = mapErr("deregister "+reg.inst.ID, err)
		if errors.Is(err, discovery.ErrNotFound) { // already gone (reaped): the goal is met
			return nil
		}
	}
	return err
}

// SetStatus makes the instance pass or fail: a TTL check is updated at
// once (and by every heartbeat after); an instance with an HTTP check is
// put in or out of maintenance mode, which Consul treats as critical.
func (r *Registry) SetStatus(ctx context.Context, id string, s discovery.Status) error {
	r.regMu.Lock() // not while Register swaps the registration
	defer r.regMu.Unlock()
	reg, ok := r.lookup(id)
	if !ok {
		return fmt.Errorf("consul: set status %q: %w", id, discovery.ErrNotFound)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.status == s {
		return nil
	}
	reg.status = s
	if reg.ttl > 0 {
		return r.updateTTL(ctx, reg)
	}
	return r.maintenance(ctx, reg, s != discovery.StatusHealthy)
}

// Resolve asks /v1/health/service/:name?passing once.
func (r *Registry) Resolve(ctx context.Context, service string, f discovery.Filter) ([]discovery.Instance, error) {
	if r.closed() {
		return nil, fmt.Errorf("consul: resolve: %w", discovery.ErrClosed)
	}
	entries, _, err := r.client.Health().Service(service, "", true, r.queryOpts(ctx))
	if err != nil {
		return nil, mapErr("resolve "+service, err)
	}
	return f.Apply(toInstances(entries)), nil
}

func toInstances(entries []*api.ServiceEntry) []discovery.Instance {
	out := make([]discovery.Instance, 0, len(entries))
	for _, e := range entries {
		if e.Service == nil {
			continue
		}
		inst := discovery.Instance{
			Service: e.Service.Service, ID: e.Service.ID, Address: e.Service.Address,
			Port: e.Service.Port, Tags: e.Service.Tags, Source: Name,
		}
		if inst.Address == "" && e.Node != nil { // Consul's rule: no service address means the node's
			inst.Address = e.Node.Address
		}
		if len(inst.Tags) == 0 {
			inst.Tags = nil
		}
		for k, v := range e.Service.Meta {
			if k == versionMeta {
				inst.Version = v
				continue
			}
			if inst.Metadata == nil {
				inst.Metadata = map[string]string{}
			}
			inst.Metadata[k] = v
		}
		out = append(out, inst)
	}
	return out
}

// Health asks the agent for the cluster leader: no leader, no service.
func (r *Registry) Health(ctx context.Context) error {
	if r.closed() {
		return fmt.Errorf("consul: health: %w", discovery.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	leader, err := r.client.Status().LeaderWithQueryOptions(r.queryOpts(ctx))
	if err != nil {
		return mapErr("health", err)
	}
	if leader == "" {
		return fmt.Errorf("consul: health: %w: no cluster leader", discovery.ErrUnavailable)
	}
	return nil
}

// Close deregisters every instance registered here (bounded to 5s) and
// ends heartbeats and watches.
func (r *Registry) Close() error {
	var errs []error
	r.closeOnce.Do(func() {
		r.mu.Lock()
		regs := make([]*registration, 0, len(r.regs))
		for _, reg := range r.regs {
			regs = append(regs, reg)
		}
		r.regs = map[string]*registration{}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, reg := range regs {
			if err := r.drop(ctx, reg); err != nil {
				errs = append(errs, err)
			}
		}
		cancel()
		r.cancel()
		r.wg.Wait()
	})
	return errors.Join(errs...)
}

// crash stops heartbeats and watches without deregistering, as a killed
// process would: the TTL check goes critical, then the agent reaps it.
func (r *Registry) crash() {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
	})
}

type builder struct{}

func (builder) Name() string { return Name }

func (builder) Build(_ context.Context, opts map[string]any) (discovery.Registry, error) {
	var cfg Config
	if err := discovery.DecodeOptions(opts, &cfg); err != nil {
		return nil, fmt.Errorf("consul: %w", err)
	}
	return New(cfg)
}
