package xds

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/wasmesh/wasmesh/xds/internal/translate"
	"google.golang.org/protobuf/proto"

	// The extensions meshd translates, registered for Any decoding.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

func resourceType(m proto.Message) string {
	switch m.(type) {
	case *listenerv3.Listener:
		return TypeListener
	case *routev3.RouteConfiguration:
		return TypeRoute
	case *clusterv3.Cluster:
		return TypeCluster
	case *endpointv3.ClusterLoadAssignment:
		return TypeEndpoint
	}
	return string(m.ProtoReflect().Descriptor().FullName())
}

func resourceName(m proto.Message) string {
	switch r := m.(type) {
	case *listenerv3.Listener:
		return r.GetName()
	case *routev3.RouteConfiguration:
		return r.GetName()
	case *clusterv3.Cluster:
		return r.GetName()
	case *endpointv3.ClusterLoadAssignment:
		return r.GetClusterName()
	}
	return ""
}

// addResource translates m into set, replacing the resource of the same
// name.
func addResource(t *translate.T, set *translate.Set, m proto.Message) error {
	switch r := m.(type) {
	case *listenerv3.Listener:
		l, err := t.Listener(r)
		if err != nil {
			return err
		}
		set.Listeners[r.GetName()] = l
	case *routev3.RouteConfiguration:
		if r.GetName() == "" {
			return fmt.Errorf("a route configuration needs a name")
		}
		rc, err := t.RouteConfig(r)
		if err != nil {
			return err
		}
		set.Routes[r.GetName()] = rc
	case *clusterv3.Cluster:
		c, err := t.Cluster(r)
		if err != nil {
			return err
		}
		set.Clusters[r.GetName()] = c
	case *endpointv3.ClusterLoadAssignment:
		if r.GetClusterName() == "" {
			return fmt.Errorf("a cluster load assignment needs a cluster_name")
		}
		eps, err := t.CLA(r)
		if err != nil {
			return err
		}
		set.Endpoints[r.GetClusterName()] = eps
	default:
		return fmt.Errorf("resource type %s is not supported", m.ProtoReflect().Descriptor().FullName())
	}
	return nil
}
