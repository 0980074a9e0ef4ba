package grpcmesh

import (
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/metadata"

	"github.com/wasmesh/wasmesh/dataplane/lb"
)

// BalancerPrefix prefixes the gRPC balancer names registered for each of
// dataplane/lb's policies: "wasmesh_least_request", "wasmesh_ring_hash" ...
// so a gRPC client balances with the same code as meshd.
const BalancerPrefix = "wasmesh_"

// HashKeyHeader is the metadata key whose value ring_hash and maglev hash;
// calls without it hash to 0.
const HashKeyHeader = "x-mesh-hash-key"

func init() {
	for _, name := range lb.Names() {
		balancer.Register(base.NewBalancerBuilder(BalancerPrefix+name, pickerBuilder{policy: name}, base.Config{HealthCheck: true}))
	}
}

type pickerBuilder struct{ policy string }

func (pb pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	if len(info.ReadySCs) == 0 {
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	p := &picker{}
	hosts := make([]lb.Host, 0, len(info.ReadySCs))
	for sc, sci := range info.ReadySCs {
		w := 1
		if a := sci.Address.BalancerAttributes; a != nil {
			if v, ok := a.Value(weightKey{}).(int); ok && v > 0 {
				w = v
			}
		}
		h := &scHost{sc: sc, weight: w}
		p.hosts = append(p.hosts, h)
		hosts = append(hosts, h)
	}
	lp, err := lb.New(pb.policy, hosts)
	if err != nil {
		return base.NewErrPicker(err)
	}
	p.lb = lp
	return p
}

// scHost is a ready SubConn seen as an lb.Host. Readiness is what the
// base balancer already filtered on, so every host is available.
type scHost struct {
	sc     balancer.SubConn
	weight int
	active atomic.Int64
}

func (h *scHost) Weight() int           { return h.weight }
func (h *scHost) Available() bool       { return true }
func (h *scHost) ActiveRequests() int64 { return h.active.Load() }

type picker struct {
	hosts []*scHost
	lb    lb.Picker
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	var hash uint64
	if md, ok := metadata.FromOutgoingContext(info.Ctx); ok {
		if v := md.Get(HashKeyHeader); len(v) > 0 {
			hash = lb.Hash64([]byte(v[0]))
		}
	}
	i := p.lb.Pick(hash)
	if i < 0 {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	h := p.hosts[i]
	h.active.Add(1)
	return balancer.PickResult{SubConn: h.sc, Done: func(balancer.DoneInfo) { h.active.Add(-1) }}, nil
}
