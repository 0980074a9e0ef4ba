package kubernetes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/registrytest"
)

// cluster is client-go's fake clientset plus what a test needs to drive
// it like the platform: it knows when the informer's watch is open, since
// the fake does not replay changes made between an informer's list and
// its watch.
type cluster struct {
	client  *fake.Clientset
	mu      sync.Mutex
	lists   int // EndpointSlice lists started by informers
	opened  int // EndpointSlice watches opened
	down    bool
	watches []watchIface
}

func newCluster() *cluster {
	c := &cluster{client: fake.NewClientset()}
	c.client.PrependReactor("list", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down {
			return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
		}
		if la, ok := a.(k8stesting.ListAction); ok && !la.GetListRestrictions().Labels.Empty() { // an informer's list
			c.lists++
		}
		return false, nil, nil
	})
	c.client.PrependWatchReactor("endpointslices", func(a k8stesting.Action) (bool, watchIface, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down {
			return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
		}
		var opts metav1.ListOptions
		if wa, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := c.client.Tracker().Watch(a.GetResource(), a.GetNamespace(), opts)
		if err != nil {
			return true, nil, err
		}
		c.opened++
		c.watches = append(c.watches, w)
		return true, w, nil
	})
	return c
}

// setDown makes the API fail (down) or answer again; going down also ends
// every open watch, as an API server restart does.
func (c *cluster) setDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
	if down {
		for _, w := range c.watches {
			w.Stop()
		}
		c.watches = nil
	}
}

// settle waits until every informer that listed has opened its watch, so
// a change made now reaches all of them.
func (c *cluster) settle(t *testing.T) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		done := c.opened >= c.lists
		c.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("an informer listed but never watched")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func sliceFor(ns string, inst discovery.Instance, ready bool) *discoveryv1.EndpointSlice {
	labels := map[string]string{
		discoveryv1.LabelServiceName: inst.Service,
		discoveryv1.LabelManagedBy:   "registrytest",
	}
	for _, tag := range inst.Tags {
		labels[TagLabelPrefix+tag] = ""
	}
	if inst.Version != "" {
		labels[VersionLabel] = inst.Version
	}
	for k, v := range inst.Metadata {
		labels[k] = v
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: inst.Service + "-" + inst.ID, Namespace: ns, Labels: labels},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(inst.Port))}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{inst.Address},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready), Serving: ptr(ready), Terminating: ptr(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: inst.ID},
		}},
	}
}

// platform is the registrytest.Source: it plays the EndpointSlice
// controller, one slice per instance.
type platform struct {
	t *testing.T
	c *cluster
}

func (p platform) slices() sliceClient { return p.c.client.DiscoveryV1().EndpointSlices("default") }

func (p platform) Add(ctx context.Context, inst discovery.Instance) error {
	p.c.settle(p.t)
	sl := sliceFor("default", inst, true)
	_, err := p.slices().Create(ctx, sl, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = p.slices().Update(ctx, sl, metav1.UpdateOptions{})
	}
	return err
}

func (p platform) Remove(ctx context.Context, service, id string) error {
	p.c.settle(p.t)
	return p.slices().Delete(ctx, service+"-"+id, metav1.DeleteOptions{})
}

func (p platform) SetHealthy(ctx context.Context, service, id string, healthy bool) error {
	p.c.settle(p.t)
	sl, err := p.slices().Get(ctx, service+"-"+id, metav1.GetOptions{})
	if err != nil {
		return err
	}
	sl.Endpoints[0].Conditions.Ready = ptr(healthy)
	sl.Endpoints[0].Conditions.Serving = ptr(healthy)
	_, err = p.slices().Update(ctx, sl, metav1.UpdateOptions{})
	return err
}

func TestConformance(t *testing.T) {
	c := newCluster()
	registrytest.Run(t, registrytest.Harness{
		Features: registrytest.Features{Dynamic: true},
		New: func(t *testing.T, _ []discovery.Instance) discovery.Registry {
			r := NewWithClient(c.client, Config{})
			t.Cleanup(func() { _ = r.Close() })
			return r
		},
		NewSource: func(t *testing.T, _ discovery.Registry) registrytest.Source { return platform{t: t, c: c} },
	})
}

func ids(in []discovery.Instance) []string {
	out := []string{}
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}

func waitFor(t *testing.T, ch <-chan discovery.Update, want ...string) discovery.Update {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	timeout := time.After(10 * time.Second)
	var last discovery.Update
	for {
		select {
		case u := <-ch:
			last = u
			if u.Err == nil && slices.Equal(ids(u.Instances), want) {
				return u
			}
		case <-timeout:
			t.Fatalf("no update with %v (last %v, err %v)", want, ids(last.Instances), last.Err)
		}
	}
}

func endpoint(pod, addr string, ready, serving, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{addr},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready), Serving: ptr(serving), Terminating: ptr(terminating)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod},
		Zone:       ptr("eu-1a"),
		NodeName:   ptr("node-" + pod),
	}
}

// TestEndpointConditions drives real informers over the fake clientset:
// slices added, endpoints turning not-ready and terminating, a slice
// deleted.
func TestEndpointConditions(t *testing.T) {
	c := newCluster()
	r := NewWithClient(c.client, Config{Namespace: "shop"})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch, err := r.Watch(ctx, "cart", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch)
	c.settle(t)
	api := c.client.DiscoveryV1().EndpointSlices("shop")
	mk := func(name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "cart"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
			Endpoints:   eps,
		}
	}
	a := mk("cart-a",
		endpoint("p1", "10.0.0.1", true, true, false),
		endpoint("p2", "10.0.0.2", false, false, false), // not ready: probe failing
		endpoint("p3", "10.0.0.3", false, true, true),   // terminating but still serving
	)
	if _, err := api.Create(ctx, a, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	u := waitFor(t, ch, "p1")
	if m := u.Instances[0].Metadata; m[ZoneKey] != "eu-1a" || m[NodeKey] != "node-p1" || u.Instances[0].Port != 8080 {
		t.Fatalf("instance p1 = %+v", u.Instances[0])
	}
	b := mk("cart-b", endpoint("p4", "10.0.0.4", true, true, false))
	if _, err := api.Create(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "p1", "p4")

	// p1 turns not ready.
	a.Endpoints[0].Conditions.Ready = ptr(false)
	a.Endpoints[0].Conditions.Serving = ptr(false)
	if _, err := api.Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "p4")

	// Slice b deleted: no ready endpoint is left, so the serving,
	// terminating p3 carries the traffic (kube-proxy's fallback).
	if err := api.Delete(ctx, "cart-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "p3")
	got, err := r.Resolve(ctx, "cart", discovery.Filter{})
	if err != nil || !slices.Equal(ids(got), []string{"p3"}) {
		t.Fatalf("Resolve = %v, %v", ids(got), err)
	}
	if err := api.Delete(ctx, "cart-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch)
}

// TestWatchFailureIsFlagged breaks the informer's watch: updates carry
// ErrUnavailable with the last known set until the API answers again.
func TestWatchFailureIsFlagged(t *testing.T) {
	c := newCluster()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := c.client.DiscoveryV1().EndpointSlices("default")
	p1 := discovery.Instance{Service: "api", ID: "p1", Address: "10.0.0.1", Port: 80}
	if _, err := api.Create(ctx, sliceFor("default", p1, true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := NewWithClient(c.client, Config{})
	defer r.Close()
	ch, err := r.Watch(ctx, "api", discovery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "p1")
	c.settle(t)
	c.setDown(true)
	for flagged := false; !flagged; {
		select {
		case u := <-ch:
			if u.Err == nil {
				continue
			}
			if !errors.Is(u.Err, discovery.ErrUnavailable) || !slices.Equal(ids(u.Instances), []string{"p1"}) {
				t.Fatalf("failing update = %v (err %v), want p1 kept with ErrUnavailable", ids(u.Instances), u.Err)
			}
			flagged = true
		case <-ctx.Done():
			t.Fatal("no update flagged ErrUnavailable while the API is down")
		}
	}
	if err := r.Health(ctx); !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("Health while down = %v", err)
	}
	c.setDown(false)
	waitFor(t, ch, "p1")
}

func TestNamedPortsAndNamespaces(t *testing.T) {
	c := newCluster()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "api-x", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr("http"), Port: ptr(int32(8080))},
			{Name: ptr("grpc"), Port: ptr(int32(9090))},
		},
		Endpoints: []discoveryv1.Endpoint{endpoint("p1", "10.0.0.1", true, true, false)},
	}
	if _, err := c.client.DiscoveryV1().EndpointSlices("shop").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, portName, service string
		want                    []int
	}{
		{"named http", "http", "api.shop", []int{8080}},
		{"named grpc", "grpc", "api.shop", []int{9090}},
		{"first by name", "", "api.shop", []int{9090}},
		{"missing name", "admin", "api.shop", nil},
		{"default namespace", "", "api", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewWithClient(c.client, Config{PortName: tt.portName})
			defer r.Close()
			got, err := r.Resolve(ctx, tt.service, discovery.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var ports []int
			for _, i := range got {
				ports = append(ports, i.Port)
			}
			if !slices.Equal(ports, tt.want) {
				t.Fatalf("ports = %v, want %v", ports, tt.want)
			}
		})
	}
}

func TestHealthPermissionDenied(t *testing.T) {
	c := newCluster()
	c.client.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(discoveryv1.Resource("endpointslices"), "", errors.New("RBAC: no list"))
	})
	r := NewWithClient(c.client, Config{})
	defer r.Close()
	if err := r.Health(context.Background()); !errors.Is(err, discovery.ErrPermissionDenied) {
		t.Fatalf("Health = %v, want ErrPermissionDenied", err)
	}
}

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: {server: "https://one.example:6443"}
- name: two
  cluster: {server: "https://two.example:6443"}
users:
- name: u
  user: {token: abc}
contexts:
- name: ctx-one
  context: {cluster: one, user: u}
- name: ctx-two
  context: {cluster: two, user: u}
current-context: ctx-one
`

func TestKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg  Config
		host string
	}{
		{Config{Kubeconfig: path}, "https://one.example:6443"},
		{Config{Kubeconfig: path, Context: "ctx-two"}, "https://two.example:6443"},
	}
	for _, tt := range tests {
		rc, err := RESTConfig(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Host != tt.host || rc.BearerToken != "abc" {
			t.Fatalf("%+v: host %q token %q", tt.cfg, rc.Host, rc.BearerToken)
		}
	}
	if _, err := RESTConfig(Config{Kubeconfig: filepath.Join(t.TempDir(), "missing")}); !errors.Is(err, discovery.ErrInvalid) {
		t.Fatalf("missing kubeconfig: %v, want ErrInvalid", err)
	}
	_, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "kubernetes",
		Options: map[string]any{"kubeconfig": path, "namespace": "shop", "port_name": "http"}})
	if err != nil {
		t.Fatalf("Open from config: %v", err)
	}
	_, err = discovery.Open(context.Background(), discovery.BackendConfig{Backend: "kubernetes",
		Options: map[string]any{"kubeconfig": path, "label_selector": "x"}})
	if !errors.Is(err, discovery.ErrInvalid) {
		t.Fatalf("unknown key: %v, want ErrInvalid", err)
	}
}
