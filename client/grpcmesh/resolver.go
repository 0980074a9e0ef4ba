package grpcmesh

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"

	"github.com/wasmesh/wasmesh/client"
)

// Scheme is the target scheme served by the resolver: mesh:///orders.
const Scheme = "mesh"

type weightKey struct{}
type metadataKey struct{}

// ResolverBuilder returns a gRPC resolver.Builder for mesh:///service
// targets backed by res. Pass it with grpc.WithResolvers (DialOptions
// does), rather than registering it globally, so two clients can use two
// registries.
func ResolverBuilder(res client.Resolver) resolver.Builder {
	return &builder{res: res}
}

type builder struct{ res client.Resolver }

func (b *builder) Scheme() string { return Scheme }

func (b *builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	svc := strings.TrimPrefix(target.Endpoint(), "/")
	if svc == "" {
		return nil, fmt.Errorf("grpcmesh: target %q names no service (want mesh:///name)", target.URL.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &meshResolver{cancel: cancel}
	eps, err := b.res.Resolve(ctx, svc)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("grpcmesh: resolve %q: %w", svc, err)
	}
	if err := cc.UpdateState(state(eps)); err != nil {
		cc.ReportError(err)
	}
	ch, err := b.res.Watch(ctx, svc)
	if err != nil {
		cc.ReportError(fmt.Errorf("grpcmesh: watch %q: %w", svc, err))
		return r, nil
	}
	go func() {
		for eps := range ch {
			if err := cc.UpdateState(state(eps)); err != nil {
				cc.ReportError(err)
			}
		}
	}()
	return r, nil
}

func state(eps []client.Endpoint) resolver.State {
	addrs := make([]resolver.Address, 0, len(eps))
	for _, ep := range eps {
		a := resolver.Address{Addr: ep.Address}
		a.BalancerAttributes = attributes.New(weightKey{}, max(ep.Weight, 1))
		if len(ep.Metadata) > 0 {
			a.Attributes = attributes.New(metadataKey{}, fmt.Sprint(ep.Metadata))
		}
		addrs = append(addrs, a)
	}
	eps2 := make([]resolver.Endpoint, len(addrs))
	for i, a := range addrs {
		eps2[i] = resolver.Endpoint{Addresses: []resolver.Address{a}, Attributes: a.BalancerAttributes}
	}
	return resolver.State{Addresses: addrs, Endpoints: eps2}
}

type meshResolver struct{ cancel context.CancelFunc }

// ResolveNow is a no-op: the Watch pushes every change.
func (r *meshResolver) ResolveNow(resolver.ResolveNowOptions) {}

func (r *meshResolver) Close() { r.cancel() }
