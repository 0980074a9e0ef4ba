package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/wasmesh/wasmesh/discovery"
)

// Name is the backend name used in config and in Instance.Source.
const Name = "etcd"

func init() { discovery.RegisterBackend(builder{}) }

// Registry is the etcd backend. It is safe for concurrent use.
type Registry struct {
	cfg Config
	cli *clientv3.Client
	log *slog.Logger

	ctx    context.Context // cancelled by Close: ends keepers, watches, the monitor
	cancel context.CancelFunc
	wg     sync.WaitGroup

	regMu sync.Mutex               // serialises Register and Deregister
	mu    sync.Mutex               // guards regs
	regs  map[string]*registration // by instance id

	healthMu   sync.Mutex
	healthErr  error
	healthNote chan struct{} // closed and replaced on every health transition

	closeOnce sync.Once
}

var _ discovery.Registry = (*Registry)(nil)

// registration is one instance this registry keeps alive.
type registration struct {
	mu     sync.Mutex
	inst   discovery.Instance
	key    string
	ttl    time.Duration
	lease  clientv3.LeaseID
	status discovery.Status
	cancel context.CancelFunc // stops the keeper
	done   chan struct{}      // closed when the keeper returned
}

// New connects to etcd and starts the registry. The connection is made
// lazily by the client; New fails only on a bad config.
func New(cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLS.build()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         tlsCfg,
		Username:    cfg.Username,
		Password:    cfg.Password,
		DialTimeout: cfg.DialTimeout.Std(),
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{
			// Reconnect within a couple of seconds of etcd coming back
			// instead of gRPC's default backoff of up to two minutes.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: 2 * time.Second,
			}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: client: %w: %w", discovery.ErrUnavailable, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{
		cfg: cfg, cli: cli, log: slog.Default().With("discovery", Name),
		ctx: ctx, cancel: cancel,
		regs:       map[string]*registration{},
		healthNote: make(chan struct{}),
	}
	r.wg.Add(1)
	go r.monitor()
	return r, nil
}

// Client returns the underlying etcd client, for callers that need more
// (gRPC's etcd resolver takes one).
func (r *Registry) Client() *clientv3.Client { return r.cli }

func (r *Registry) serviceDir(service string) string { return r.cfg.Prefix + "/" + service + "/" }

func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd: %s: %w", op, err)
	}
	return fmt.Errorf("etcd: %s: %w: %w", op, discovery.ErrUnavailable, err)
}

func (r *Registry) closed() bool { return r.ctx.Err() != nil }

// Register puts the instance under a fresh lease and keeps the lease alive
// until Deregister or Close. Registering a known id again rewrites its
// value under the same lease; an id already registered here for another
// service is ErrConflict.
func (r *Registry) Register(ctx context.Context, inst discovery.Instance) error {
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("etcd: register: %w", err)
	}
	if strings.Contains(inst.Service, "/") || strings.Contains(inst.ID, "/") {
		return fmt.Errorf("etcd: register: %w: service and id may not contain '/'", discovery.ErrInvalid)
	}
	if r.closed() {
		return fmt.Errorf("etcd: register: %w", discovery.ErrClosed)
	}
	inst = inst.Clone()
	inst.Source = ""
	r.regMu.Lock() // one Register or Deregister at a time: they are rare
	defer r.regMu.Unlock()
	r.mu.Lock()
	reg, known := r.regs[inst.ID]
	r.mu.Unlock()
	if known {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		if reg.inst.Service != inst.Service {
			return fmt.Errorf("etcd: register %s: %w: id already registered for service %q",
				inst.ID, discovery.ErrConflict, reg.inst.Service)
		}
		reg.inst = inst
		if reg.status != discovery.StatusHealthy {
			return nil
		}
		return r.put(ctx, reg)
	}

	ttl := inst.Check.TTL
	if ttl <= 0 {
		ttl = r.cfg.TTL.Std()
	}
	kctx, cancel := context.WithCancel(r.ctx)
	reg = &registration{
		inst: inst, key: r.serviceDir(inst.Service) + inst.ID, ttl: ttl,
		cancel: cancel, done: make(chan struct{}),
	}
	reg.mu.Lock()
	err := r.establish(ctx, reg)
	reg.mu.Unlock()
	if err != nil {
		cancel()
		return fmt.Errorf("etcd: register %s: %w", inst.ID, err)
	}
	r.mu.Lock()
	r.regs[inst.ID] = reg
	r.mu.Unlock()
	r.wg.Add(1)
	go r.keep(kctx, reg)
	return nil
}

// establish grants a lease and writes the key if healthy. reg.mu is held.
func (r *Registry) establish(ctx context.Context, reg *registration) error {
	secs := int64((reg.ttl + time.Second - 1) / time.Second)
	lease, err := r.cli.Grant(ctx, secs)
	if err != nil {
		return unavailable("grant lease", err)
	}
	reg.lease = lease.ID
	if reg.status != discovery.StatusHealthy {
		return nil
	}
	return r.put(ctx, reg)
}

// put writes reg's key under its lease. reg.mu is held.
func (r *Registry) put(ctx context.Context, reg *registration) error {
	val, err := encode(reg.inst)
	if err != nil {
		return err
	}
	if _, err := r.cli.Put(ctx, reg.key, val, clientv3.WithLease(reg.lease)); err != nil {
		return unavailable("put "+reg.key, err)
	}
	return nil
}

// keep keeps reg's lease alive; when the lease is lost (etcd unreachable
// longer than the TTL) it grants a new one and writes the key again.
func (r *Registry) keep(ctx context.Context, reg *registration) {
	defer r.wg.Done()
	defer close(reg.done)
	wait := 100 * time.Millisecond
	for {
		reg.mu.Lock()
		lease := reg.lease
		reg.mu.Unlock()
		if lease != 0 {
			ka, err := r.cli.KeepAlive(ctx, lease)
			if err == nil {
				for range ka { // responses only confirm; the channel closes when the lease is lost
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("lease lost, registering again", "id", reg.inst.ID, "key", reg.key)
		for {
			reg.mu.Lock()
			reg.lease = 0
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := r.establish(actx, reg)
			cancel()
			reg.mu.Unlock()
			if err == nil {
				wait = 100 * time.Millisecond
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Second)
		}
	}
}

func (r *Registry) lookup(id string) (*registration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg, ok := r.regs[id]
	return reg, ok
}

// Deregister stops the keep-alive and revokes the lease, which deletes the
// key at once.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	r.regMu.Lock()
	defer r.regMu.Unlock()
	r.mu.Lock()
	reg, ok := r.regs[id]
	delete(r.regs, id)
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("etcd: deregister %q: %w", id, discovery.ErrNotFound)
	}
	return r.drop(ctx, reg)
}

func (r *Registry) drop(ctx context.Context, reg *registration) error {
	reg.cancel()
	<-reg.done
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.lease != 0 {
		if _, err := r.cli.Revoke(ctx, reg.lease); err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return nil
		}
	}
	if _, err := r.cli.Delete(ctx, reg.key); err != nil {
		return unavailable("deregister "+reg.inst.ID, err)
	}
	return nil
}

// SetStatus writes the key back when healthy and deletes it (keeping the
// lease) when not, so that gRPC's etcd resolver, which knows no health,
// also stops sending to an unhealthy instance.
func (r *Registry) SetStatus(ctx context.Context, id string, s discovery.Status) error {
	reg, ok := r.lookup(id)
	if !ok {
		return fmt.Errorf("etcd: set status %q: %w", id, discovery.ErrNotFound)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.status == s {
		return nil
	}
	reg.status = s
	if reg.lease == 0 { // the keeper is re-establishing and will apply the status
		return nil
	}
	if s == discovery.StatusHealthy {
		return r.put(ctx, reg)
	}
	if _, err := r.cli.Delete(ctx, reg.key); err != nil {
		return unavailable("set status "+id, err)
	}
	return nil
}

// Resolve lists the service's keys (a linearizable read).
func (r *Registry) Resolve(ctx context.Context, service string, f discovery.Filter) ([]discovery.Instance, error) {
	if r.closed() {
		return nil, fmt.Errorf("etcd: resolve: %w", discovery.ErrClosed)
	}
	resp, err := r.cli.Get(ctx, r.serviceDir(service), clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("resolve "+service, err)
	}
	return f.Apply(r.decodeAll(service, resp.Kvs)), nil
}

func (r *Registry) decodeAll(service string, kvs []*mvccpb.KeyValue) []discovery.Instance {
	out := make([]discovery.Instance, 0, len(kvs))
	for _, kv := range kvs {
		inst, err := decode(service, string(kv.Key), kv.Value)
		if err != nil {
			r.log.Warn("skipping undecodable entry", "err", err)
			continue
		}
		out = append(out, inst)
	}
	return out
}

// Health probes etcd with a linearizable read (which needs a leader).
func (r *Registry) Health(ctx context.Context) error {
	if r.closed() {
		return fmt.Errorf("etcd: health: %w", discovery.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := r.cli.Get(ctx, r.cfg.Prefix+"/", clientv3.WithCountOnly(), clientv3.WithLimit(1)); err != nil {
		return unavailable("health", err)
	}
	return nil
}

// monitor probes etcd every HealthInterval and tells watches when it
// becomes unreachable or reachable again.
func (r *Registry) monitor() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.HealthInterval.Std())
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		err := r.Health(r.ctx)
		if r.closed() {
			return
		}
		r.healthMu.Lock()
		if (err == nil) != (r.healthErr == nil) {
			r.healthErr = err
			close(r.healthNote)
			r.healthNote = make(chan struct{})
			if err != nil {
				r.log.Warn("etcd unreachable", "err", err)
			} else {
				r.log.Info("etcd reachable again")
			}
		}
		r.healthMu.Unlock()
	}
}

func (r *Registry) healthState() (error, <-chan struct{}) {
	r.healthMu.Lock()
	defer r.healthMu.Unlock()
	return r.healthErr, r.healthNote
}

// Close deregisters every instance registered here (bounded to 5s), ends
// the watches and closes the client.
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
		errs = append(errs, r.cli.Close())
	})
	return errors.Join(errs...)
}

// crash stops every keeper and closes the client without deregistering,
// as a killed process would; the leases then expire on their own.
func (r *Registry) crash() {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		_ = r.cli.Close()
	})
}

type builder struct{}

func (builder) Name() string { return Name }

func (builder) Build(_ context.Context, opts map[string]any) (discovery.Registry, error) {
	var cfg Config
	if err := discovery.DecodeOptions(opts, &cfg); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	return New(cfg)
}
