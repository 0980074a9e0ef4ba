package xds

import (
	"fmt"
	"net"
	"os"
	"strconv"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/goccy/go-yaml"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/xds/internal/translate"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	// The ADS cluster's TLS transport socket.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Bootstrap is an Envoy v3 bootstrap file, read for meshd.
type Bootstrap struct {
	// Base has the admin address; Options.Base takes it.
	Base *conf.Config
	// Static are the static_resources (the ADS cluster left out).
	Static []proto.Message
	// ADS is set when dynamic_resources point at an ADS server.
	ADS  *ADS
	Node Node
	// Warnings name the bootstrap fields meshd ignores.
	Warnings []string
}

// ADS is where dynamic_resources send meshd.
type ADS struct {
	Server string
	Delta  bool
	// TLS is set when the ADS cluster has a TLS transport_socket.
	TLS *TLS
}

// LoadBootstrap reads an Envoy v3 bootstrap in YAML or JSON. Unknown
// fields are errors, as in Envoy.
func LoadBootstrap(path string) (*Bootstrap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	b, err := ParseBootstrap(data)
	if err != nil {
		return nil, fmt.Errorf("bootstrap %s: %w", path, err)
	}
	return b, nil
}

// ParseBootstrap is LoadBootstrap for bytes in memory.
func ParseBootstrap(data []byte) (*Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var bs bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &bs); err != nil {
		return nil, fmt.Errorf("not an Envoy v3 bootstrap: %w", err)
	}
	out := &Bootstrap{Base: &conf.Config{}}
	warn := func(format string, args ...any) { out.Warnings = append(out.Warnings, fmt.Sprintf(format, args...)) }
	if n := bs.GetNode(); n != nil {
		out.Node = Node{ID: n.GetId(), Cluster: n.GetCluster()}
		if n.GetMetadata() != nil {
			out.Node.Metadata = n.GetMetadata().AsMap()
		}
	}
	if a := bs.GetAdmin().GetAddress(); a != nil {
		t := &translate.T{}
		addr, err := t.Address("admin.address", a)
		if err != nil {
			return nil, err
		}
		out.Base.Admin.Address = addr
		if host, _, _ := net.SplitHostPort(addr); !isLoopback(host) {
			// Envoy users often bind the admin API to 0.0.0.0; meshd keeps
			// the file's choice, and says so.
			out.Base.Admin.AllowNonLoopback = true
			warn("admin.address %s is not loopback: the admin API can drain and reload meshd; bind it to 127.0.0.1 unless it must be reachable", addr)
		}
	}
	bs.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		switch fd.Name() {
		case "node", "admin", "static_resources", "dynamic_resources":
		default:
			warn("bootstrap field %s ignored: meshd has its own stats, tracing, runtime and overload handling", fd.Name())
		}
		return true
	})
	adsCluster := ""
	if dr := bs.GetDynamicResources(); dr != nil {
		ac := dr.GetAdsConfig()
		if ac == nil {
			return nil, fmt.Errorf("dynamic_resources: meshd needs ads_config (it speaks ADS only)")
		}
		for name, cs := range map[string]*corev3.ConfigSource{"lds_config": dr.GetLdsConfig(), "cds_config": dr.GetCdsConfig()} {
			if cs == nil || cs.GetAds() == nil {
				return nil, fmt.Errorf("dynamic_resources.%s: meshd needs it set to {ads: {}} (it takes listeners and clusters over ADS)", name)
			}
		}
		out.ADS = &ADS{}
		switch ac.GetApiType() {
		case corev3.ApiConfigSource_GRPC:
		case corev3.ApiConfigSource_DELTA_GRPC:
			out.ADS.Delta = true
		default:
			return nil, fmt.Errorf("dynamic_resources.ads_config.api_type %s: meshd speaks GRPC and DELTA_GRPC", ac.GetApiType())
		}
		gs := ac.GetGrpcServices()
		if len(gs) == 0 {
			return nil, fmt.Errorf("dynamic_resources.ads_config.grpc_services is empty")
		}
		switch {
		case gs[0].GetEnvoyGrpc() != nil:
			adsCluster = gs[0].GetEnvoyGrpc().GetClusterName()
		case gs[0].GetGoogleGrpc() != nil:
			if gs[0].GetGoogleGrpc().GetChannelCredentials() != nil {
				return nil, fmt.Errorf("dynamic_resources.ads_config.grpc_services[0].google_grpc.channel_credentials is not supported: use envoy_grpc with a TLS transport_socket on the cluster")
			}
			out.ADS.Server = gs[0].GetGoogleGrpc().GetTargetUri()
		}
	}
	t := &translate.T{}
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() == adsCluster {
			addr, err := adsAddress(t, c)
			if err != nil {
				return nil, err
			}
			out.ADS.Server = addr
			if ts := c.GetTransportSocket(); ts != nil {
				if out.ADS.TLS, err = tlsFromSocket(ts); err != nil {
					return nil, fmt.Errorf("cluster %q: %w", c.GetName(), err)
				}
			}
			continue
		}
		out.Static = append(out.Static, c)
	}
	if adsCluster != "" && out.ADS.Server == "" {
		return nil, fmt.Errorf("dynamic_resources.ads_config names cluster %q, which static_resources does not define", adsCluster)
	}
	for _, l := range bs.GetStaticResources().GetListeners() {
		out.Static = append(out.Static, l)
	}
	if len(bs.GetStaticResources().GetSecrets()) > 0 {
		warn("static_resources.secrets ignored: meshd does not terminate TLS from Envoy config")
	}
	// Translate now, so a bad static resource fails at load, not later.
	st, err := buildStatic(out.Static)
	if err != nil {
		return nil, err
	}
	out.Warnings = append(out.Warnings, st.warnings...)
	return out, nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// adsAddress finds the management server in the ADS cluster: its first
// endpoint.
func adsAddress(t *translate.T, c *clusterv3.Cluster) (string, error) {
	for _, l := range c.GetLoadAssignment().GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			if sa != nil {
				return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))), nil
			}
		}
	}
	return "", fmt.Errorf("cluster %q (the ADS cluster) has no endpoint", c.GetName())
}

// Config translates a bootstrap without ADS into a whole config: what
// meshd runs when the file has static_resources only.
func (b *Bootstrap) Config() (*conf.Config, []string, error) {
	st, err := buildStatic(b.Static)
	if err != nil {
		return nil, nil, err
	}
	cfg, warns, err := st.set.Assemble(b.Base)
	return cfg, append(st.warnings, warns...), err
}
