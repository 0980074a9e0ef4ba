package xds

import (
	"strings"
	"testing"
)

func TestBootstrapErrors(t *testing.T) {
	ads := func(extra string) string {
		return `
dynamic_resources:
  ads_config: { api_type: GRPC, grpc_services: [{ envoy_grpc: { cluster_name: xds } }] }
  cds_config: { ads: {} }
  lds_config: { ads: {} }
static_resources:
  clusters:
    - name: xds
      type: STATIC
` + extra + `
      load_assignment: { cluster_name: xds, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 18000 } } } }] }] }
`
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "statc_resources: {}", "unknown field"},
		{"not YAML", "a: [", "not valid YAML"},
		{"REST config source", `
dynamic_resources:
  ads_config: { api_type: REST }
  cds_config: { ads: {} }
  lds_config: { ads: {} }`, "api_type REST"},
		{"LDS not over ADS", `
dynamic_resources:
  ads_config: { api_type: GRPC, grpc_services: [{ envoy_grpc: { cluster_name: xds } }] }
  cds_config: { ads: {} }
  lds_config: { path_config_source: { path: /etc/lds.yaml } }`, "lds_config"},
		{"ADS cluster missing", `
dynamic_resources:
  ads_config: { api_type: GRPC, grpc_services: [{ envoy_grpc: { cluster_name: nope } }] }
  cds_config: { ads: {} }
  lds_config: { ads: {} }`, `cluster "nope"`},
		{"TLS socket without config", ads("      transport_socket: { name: envoy.transport_sockets.tls }"), "typed_config is missing"},
		{"TLS from SDS", ads(`      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          common_tls_context: { validation_context_sds_secret_config: { name: ca } }`), "SDS secrets are not supported"},
		{"bad static listener", `
static_resources:
  listeners:
    - name: l
      address: { pipe: { path: /tmp/x.sock } }`, "pipe is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBootstrap([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	b, err := ParseBootstrap([]byte(ads("")))
	if err != nil {
		t.Fatal(err)
	}
	if b.ADS.Server != "127.0.0.1:18000" || b.ADS.Delta || len(b.Static) != 0 {
		t.Errorf("ADS = %+v, static %d", b.ADS, len(b.Static))
	}
	b, err = ParseBootstrap([]byte("admin: { address: { socket_address: { address: 0.0.0.0, port_value: 9901 } } }"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Base.Admin.Address != "0.0.0.0:9901" || !b.Base.Admin.AllowNonLoopback || !strings.Contains(strings.Join(b.Warnings, " "), "not loopback") {
		t.Errorf("non-loopback admin: %+v %v", b.Base.Admin, b.Warnings)
	}
}
