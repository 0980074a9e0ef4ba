package kubernetes

import (
	"context"

	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/internal/watch"
)

// Name is the backend name used in config and in Instance.Source.
const Name = "kubernetes"

// Label and metadata conventions (see README.md).
const (
	// TagLabelPrefix: a Service (so its slices) labelled
	// "tag.wasmesh.io/v2" gives its instances the tag "v2".
	TagLabelPrefix = "tag.wasmesh.io/"
	// VersionLabel on a Service gives its instances their version.
	VersionLabel = "app.kubernetes.io/version"
	// ZoneKey and NodeKey are the metadata keys of an endpoint's zone and
	// node.
	ZoneKey = "zone"
	NodeKey = "node"
)

func init() { discovery.RegisterBackend(builder{}) }

// Config is the backend's options block.
type Config struct {
	// Kubeconfig is a kubeconfig path. Empty: the in-cluster config when
	// running in a pod, else $KUBECONFIG or ~/.kube/config.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context selects a kubeconfig context; default the current one.
	Context string `json:"context,omitempty"`
	// Namespace of services named without one; default "default". A
	// service may also be named "name.namespace".
	Namespace string `json:"namespace,omitempty"`
	// PortName picks the named port of the slices ("http", "grpc"). Empty:
	// the only port, or the first by name when there are several.
	PortName string `json:"port_name,omitempty"`
	// SyncTimeout bounds the wait for an informer's first list; default 30s.
	SyncTimeout discovery.Duration `json:"sync_timeout,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = discovery.Duration(30 * time.Second)
	}
	return c
}

// Registry is the Kubernetes backend. It is safe for concurrent use.
type Registry struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu     sync.Mutex
	spaces map[string]*space // informer per namespace, started on first use
}

// space is one namespace's informer.
type space struct {
	ready    chan struct{} // closed when synced (or failed: err set)
	err      error
	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer
	lister   listersv1.EndpointSliceLister

	mu         sync.Mutex
	failing    error
	recovering bool                      // a probe loop runs until the API answers again
	watchers   map[*watcherSignal]string // signal -> service name
}

type watcherSignal struct{ ch chan struct{} }

func (w *watcherSignal) poke() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

var _ discovery.Registry = (*Registry)(nil)

// RESTConfig resolves cfg to a client config: the kubeconfig when one is
// named, else in-cluster, else the default kubeconfig rules.
func RESTConfig(cfg Config) (*rest.Config, error) {
	if cfg.Kubeconfig == "" && cfg.Context == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			return rc, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		rules.ExplicitPath = cfg.Kubeconfig
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w: no usable in-cluster config or kubeconfig: %w", discovery.ErrInvalid, err)
	}
	return rc, nil
}

// New connects with the in-cluster config or a kubeconfig.
func New(cfg Config) (*Registry, error) {
	rc, err := RESTConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w: %w", discovery.ErrInvalid, err)
	}
	return NewWithClient(client, cfg), nil
}

// NewWithClient uses an existing clientset (a program that already has
// one, or a test with client-go's fake clientset).
func NewWithClient(client kubernetes.Interface, cfg Config) *Registry {
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{
		cfg: cfg.withDefaults(), client: client, log: slog.Default().With("discovery", Name),
		ctx: ctx, cancel: cancel, spaces: map[string]*space{},
	}
}

// split turns "name" or "name.namespace" into both parts.
func (r *Registry) split(service string) (name, ns string) {
	if i := strings.IndexByte(service, '.'); i >= 0 {
		return service[:i], service[i+1:]
	}
	return service, r.cfg.Namespace
}

// space returns the namespace's synced informer, starting it on first use.
func (r *Registry) space(ctx context.Context, ns string) (*space, error) {
	r.mu.Lock()
	sp, ok := r.spaces[ns]
	if !ok {
		sp = r.startSpace(ns)
		r.spaces[ns] = sp
	}
	r.mu.Unlock()
	select {
	case <-sp.ready:
		return sp, sp.err
	case <-ctx.Done():
		return nil, fmt.Errorf("kubernetes: %w: waiting for the EndpointSlice cache of %q: %w",
			discovery.ErrUnavailable, ns, ctx.Err())
	}
}

// startSpace makes and starts the namespace's informer. r.mu held.
func (r *Registry) startSpace(ns string) *space {
	factory := informers.NewSharedInformerFactoryWithOptions(r.client, 0, // no resync: the watch is enough
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName }))
	inf := factory.Discovery().V1().EndpointSlices()
	sp := &space{
		ready: make(chan struct{}), factory: factory, informer: inf.Informer(), lister: inf.Lister(),
		watchers: map[*watcherSignal]string{},
	}
	_ = sp.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		r.log.Warn("EndpointSlice watch failed; the informer retries", "namespace", ns, "err", err)
		sp.setFailing(fmt.Errorf("kubernetes: %w: watch of EndpointSlices in %q: %w", discovery.ErrUnavailable, ns, err))
		r.startRecovery(sp, ns)
	})
	onEvent := func(obj any) {
		sp.setFailing(nil) // an event means the watch works again
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		slice, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		sp.pokeService(slice.Labels[discoveryv1.LabelServiceName])
	}
	_, _ = sp.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onEvent,
		UpdateFunc: func(_, obj any) { onEvent(obj) },
		DeleteFunc: onEvent,
	})
	factory.Start(r.ctx.Done())
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.SyncTimeout.Std())
		defer cancel()
		if !cache.WaitForCacheSync(ctx.Done(), sp.informer.HasSynced) {
			sp.err = fmt.Errorf("kubernetes: %w: EndpointSlice cache of %q not synced within %v",
				discovery.ErrUnavailable, ns, r.cfg.SyncTimeout.Std())
			r.mu.Lock()
			delete(r.spaces, ns) // let a later call try again
			r.mu.Unlock()
		}
		close(sp.ready)
	}()
	return sp
}

// startRecovery probes the API server every second while the namespace's
// watch is failing and clears the flag once a list succeeds (the informer
// relists and rewatches on its own; an empty namespace would otherwise
// produce no event to clear it).
func (r *Registry) startRecovery(sp *space, ns string) {
	sp.mu.Lock()
	if sp.recovering {
		sp.mu.Unlock()
		return
	}
	sp.recovering = true
	sp.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			sp.mu.Lock()
			sp.recovering = false
			sp.mu.Unlock()
		}()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
			}
			if sp.failingErr() == nil {
				return // an event cleared it
			}
			ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
			_, err := r.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{Limit: 1})
			cancel()
			if err == nil {
				sp.setFailing(nil)
				return
			}
		}
	}()
}

func (sp *space) setFailing(err error) {
	sp.mu.Lock()
	changed := (err == nil) != (sp.failing == nil)
	sp.failing = err
	var all []*watcherSignal
	if changed {
		for w := range sp.watchers {
			all = append(all, w)
		}
	}
	sp.mu.Unlock()
	for _, w := range all {
		w.poke()
	}
}

func (sp *space) pokeService(name string) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for w, svc := range sp.watchers {
		if svc == name {
			w.poke()
		}
	}
}

func (sp *space) failingErr() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.failing
}

// Register is unsupported: on Kubernetes the platform registers pods.
func (r *Registry) Register(context.Context, discovery.Instance) error {
	return fmt.Errorf("kubernetes: register: %w: endpoints come from the Service's EndpointSlices", discovery.ErrUnsupported)
}

// Deregister is unsupported: on Kubernetes the platform registers pods.
func (r *Registry) Deregister(context.Context, string) error {
	return fmt.Errorf("kubernetes: deregister: %w: endpoints come from the Service's EndpointSlices", discovery.ErrUnsupported)
}

// SetStatus is unsupported: readiness probes set an endpoint's conditions.
func (r *Registry) SetStatus(context.Context, string, discovery.Status) error {
	return fmt.Errorf("kubernetes: set status: %w: readiness probes drive endpoint conditions", discovery.ErrUnsupported)
}

// Resolve reads the informer's cache (after its first sync).
func (r *Registry) Resolve(ctx context.Context, service string, f discovery.Filter) ([]discovery.Instance, error) {
	if r.ctx.Err() != nil {
		return nil, fmt.Errorf("kubernetes: resolve: %w", discovery.ErrClosed)
	}
	name, ns := r.split(service)
	sp, err := r.space(ctx, ns)
	if err != nil {
		return nil, err
	}
	insts, err := r.instances(sp, service, name)
	if err != nil {
		return nil, err
	}
	return f.Apply(insts), nil
}

func (r *Registry) instances(sp *space, service, name string) ([]discovery.Instance, error) {
	slices, err := sp.lister.List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	if err != nil {
		return nil, fmt.Errorf("kubernetes: list slices of %s: %w", service, err)
	}
	return toInstances(service, slices, r.cfg.PortName), nil
}

// Watch sends the service's instances after every change of its slices.
func (r *Registry) Watch(ctx context.Context, service string, f discovery.Filter) (<-chan discovery.Update, error) {
	if r.ctx.Err() != nil {
		return nil, fmt.Errorf("kubernetes: watch: %w", discovery.ErrClosed)
	}
	name, ns := r.split(service)
	sp, err := r.space(ctx, ns)
	if err != nil {
		return nil, err
	}
	sig := &watcherSignal{ch: make(chan struct{}, 1)}
	sp.mu.Lock()
	sp.watchers[sig] = name
	sp.mu.Unlock()
	sig.poke() // the first set
	s := watch.NewSender()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer s.Close()
		defer stop()
		defer cancel()
		defer func() {
			sp.mu.Lock()
			delete(sp.watchers, sig)
			sp.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig.ch:
			}
			insts, err := r.instances(sp, service, name)
			if err != nil {
				r.log.Warn("listing slices from the cache failed", "service", service, "err", err)
				continue
			}
			s.Send(discovery.Update{Instances: f.Apply(insts), Err: sp.failingErr()})
		}
	}()
	return s.C(), nil
}

// Health lists one EndpointSlice of the default namespace through the API
// server (not the cache), to prove both reachability and permission.
func (r *Registry) Health(ctx context.Context) error {
	if r.ctx.Err() != nil {
		return fmt.Errorf("kubernetes: health: %w", discovery.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := r.client.DiscoveryV1().EndpointSlices(r.cfg.Namespace).List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes: health: %w: %w", discovery.ErrPermissionDenied, err)
	default:
		return fmt.Errorf("kubernetes: health: %w: %w", discovery.ErrUnavailable, err)
	}
}

// Close stops the informers and watches.
func (r *Registry) Close() error {
	r.once.Do(func() {
		r.cancel()
		r.mu.Lock()
		spaces := make([]*space, 0, len(r.spaces))
		for _, sp := range r.spaces {
			spaces = append(spaces, sp)
		}
		r.mu.Unlock()
		for _, sp := range spaces {
			sp.factory.Shutdown()
		}
		r.wg.Wait()
	})
	return nil
}

// toInstances turns slices into instances: ready endpoints, or, when none
// is ready, the serving-and-terminating ones; the same address from two
// slices counts once.
func toInstances(service string, slices []*discoveryv1.EndpointSlice, portName string) []discovery.Instance {
	sort.Slice(slices, func(a, b int) bool { return slices[a].Name < slices[b].Name })
	var ready, terminating []discovery.Instance
	for _, sl := range slices {
		port, ok := pickPort(sl.Ports, portName)
		if !ok {
			continue
		}
		tags, version, meta := fromLabels(sl.Labels)
		for _, ep := range sl.Endpoints {
			isReady := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := isReady
			if ep.Conditions.Serving != nil {
				serving = *ep.Conditions.Serving
			}
			isTerminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			if isTerminating {
				isReady = false // a terminating endpoint is never "ready" for new traffic
			}
			if !isReady && !(serving && isTerminating) {
				continue
			}
			for i, addr := range ep.Addresses {
				inst := discovery.Instance{
					Service: service, ID: endpointID(ep, addr, i), Address: addr, Port: port,
					Version: version, Tags: tags, Metadata: endpointMeta(meta, ep), Source: Name,
				}
				if isReady {
					ready = append(ready, inst)
				} else {
					terminating = append(terminating, inst)
				}
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	seen := map[string]bool{}
	dedup := out[:0]
	for _, inst := range out {
		if !seen[inst.HostPort()] {
			seen[inst.HostPort()] = true
			dedup = append(dedup, inst)
		}
	}
	return dedup
}

func pickPort(ports []discoveryv1.EndpointPort, name string) (int, bool) {
	var named []discoveryv1.EndpointPort
	for _, p := range ports {
		if p.Port == nil {
			continue
		}
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		if name != "" && pn == name {
			return int(*p.Port), true
		}
		named = append(named, p)
	}
	if name != "" || len(named) == 0 {
		return 0, false
	}
	sort.Slice(named, func(a, b int) bool { return portName(named[a]) < portName(named[b]) })
	return int(*named[0].Port), true
}

func portName(p discoveryv1.EndpointPort) string {
	if p.Name == nil {
		return ""
	}
	return *p.Name
}

// fromLabels reads tags, version and metadata from a slice's labels (the
// EndpointSlice controller copies the Service's labels onto its slices).
func fromLabels(l map[string]string) (tags []string, version string, meta map[string]string) {
	for k, v := range l {
		switch {
		case strings.HasPrefix(k, TagLabelPrefix):
			tags = append(tags, strings.TrimPrefix(k, TagLabelPrefix))
		case k == VersionLabel:
			version = v
		case strings.Contains(k, "kubernetes.io/"): // the platform's own labels
		default:
			if meta == nil {
				meta = map[string]string{}
			}
			meta[k] = v
		}
	}
	sort.Strings(tags)
	return tags, version, meta
}

func endpointMeta(base map[string]string, ep discoveryv1.Endpoint) map[string]string {
	if ep.Zone == nil && ep.NodeName == nil {
		return base
	}
	m := make(map[string]string, len(base)+2)
	for k, v := range base {
		m[k] = v
	}
	if ep.Zone != nil {
		m[ZoneKey] = *ep.Zone
	}
	if ep.NodeName != nil {
		m[NodeKey] = *ep.NodeName
	}
	return m
}

// endpointID is the pod name when the endpoint names one, else the address.
func endpointID(ep discoveryv1.Endpoint, addr string, i int) string {
	if ep.TargetRef != nil && ep.TargetRef.Name != "" {
		if i == 0 {
			return ep.TargetRef.Name
		}
		return fmt.Sprintf("%s-%d", ep.TargetRef.Name, i)
	}
	return addr
}

type builder struct{}

func (builder) Name() string { return Name }

func (builder) Build(_ context.Context, opts map[string]any) (discovery.Registry, error) {
	var cfg Config
	if err := discovery.DecodeOptions(opts, &cfg); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return New(cfg)
}
