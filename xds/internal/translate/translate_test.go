package translate

import (
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/wasmesh/wasmesh/conf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// TestRulesNameRealFields keeps the table honest: every rule names a
// field that exists, and no field is listed twice.
func TestRulesNameRealFields(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("envoy." + r.Message))
		if err != nil {
			t.Errorf("rule for unknown message %s", r.Message)
			continue
		}
		if d.(protoreflect.MessageDescriptor).Fields().ByName(protoreflect.Name(r.Field)) == nil {
			t.Errorf("%s has no field %s", r.Message, r.Field)
		}
		k := r.Message + "." + r.Field
		if seen[k] {
			t.Errorf("%s is listed twice", k)
		}
		seen[k] = true
	}
}

// TestReadmeListsEveryRule keeps xds/README.md's field table in step with
// the code.
func TestReadmeListsEveryRule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, r := range Rules {
		if r.Action == Use {
			continue
		}
		if !strings.Contains(readme, "`"+r.Field+"`") {
			t.Errorf("README does not list %s.%s (%s)", r.Message, r.Field, r.Action)
		}
	}
}

func anyOf(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func listener(t *testing.T, hcm *hcmv3.HttpConnectionManager, mod func(*listenerv3.Listener)) *listenerv3.Listener {
	if hcm.HttpFilters == nil {
		hcm.HttpFilters = []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: anyOf(t, &routerv3.Router{})}}}
	}
	if hcm.RouteSpecifier == nil {
		hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "r"}}
	}
	l := &listenerv3.Listener{Name: "l", Address: sock("0.0.0.0", 8080), FilterChains: []*listenerv3.FilterChain{{
		Filters: []*listenerv3.Filter{{Name: "hcm", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: anyOf(t, hcm)}}},
	}}}
	if mod != nil {
		mod(l)
	}
	return l
}

func sock(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func TestListener(t *testing.T) {
	dir := t.TempDir()
	wasmFile := filepath.Join(dir, "auth.wasm")
	cfgJSON := anyOf(t, wrapperspb.String(`{"issuer":"me"}`))
	wasm := &wasmfv3.Wasm{Config: &wasmv3.PluginConfig{Name: "auth", RootId: "auth_root", Configuration: cfgJSON,
		FailurePolicy: wasmv3.FailurePolicy_FAIL_OPEN,
		Vm: &wasmv3.PluginConfig_VmConfig{VmConfig: &wasmv3.VmConfig{Runtime: "envoy.wasm.runtime.v8",
			Code: &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Local{Local: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: wasmFile}}}}}}}}
	router := &hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: anyOf(t, &routerv3.Router{})}}
	tests := []struct {
		name    string
		l       *listenerv3.Listener
		want    func(*Listener) bool
		wantErr string
	}{
		{name: "rds and address", l: listener(t, &hcmv3.HttpConnectionManager{StatPrefix: "x",
			CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(30e9)}, MaxRequestHeadersKb: wrapperspb.UInt32(32)}, nil),
			want: func(l *Listener) bool {
				return l.RDS == "r" && l.Conf.Address == "0.0.0.0:8080" && l.Conf.IdleTimeout == conf.Duration(30e9) && l.Conf.MaxRequestHeadersKB == 32
			}},
		{name: "wasm filter", l: listener(t, &hcmv3.HttpConnectionManager{HttpFilters: []*hcmv3.HttpFilter{
			{Name: "envoy.filters.http.wasm", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: anyOf(t, wasm)}}, router}}, nil),
			want: func(l *Listener) bool {
				f := l.Conf.Filters
				return len(f) == 1 && f[0].Name == "envoy.filters.http.wasm" && f[0].Wasm == wasmFile && f[0].FailOpen && f[0].Config["issuer"] == "me"
			}},
		{name: "bind_to_port false is skipped", l: listener(t, &hcmv3.HttpConnectionManager{}, func(l *listenerv3.Listener) { l.BindToPort = wrapperspb.Bool(false) }),
			want: func(l *Listener) bool { return l.Skip }},
		{name: "TLS is rejected", l: listener(t, &hcmv3.HttpConnectionManager{}, func(l *listenerv3.Listener) {
			l.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "tls"}
		}), wantErr: "transport_socket is not supported"},
		{name: "filter_chain_match is rejected", l: listener(t, &hcmv3.HttpConnectionManager{}, func(l *listenerv3.Listener) {
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"a"}}
		}), wantErr: "filter_chain_match"},
		{name: "unknown HTTP filter is rejected", l: listener(t, &hcmv3.HttpConnectionManager{HttpFilters: []*hcmv3.HttpFilter{
			{Name: "envoy.filters.http.cors", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: anyOf(t, &routev3.CorsPolicy{})}}, router}}, nil),
			wantErr: "is not supported"},
		{name: "optional unknown HTTP filter is skipped", l: listener(t, &hcmv3.HttpConnectionManager{HttpFilters: []*hcmv3.HttpFilter{
			{Name: "x", IsOptional: true, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: anyOf(t, &routev3.CorsPolicy{})}}, router}}, nil),
			want: func(l *Listener) bool { return len(l.Conf.Filters) == 0 }},
		{name: "HTTP/2 codec is rejected", l: listener(t, &hcmv3.HttpConnectionManager{CodecType: hcmv3.HttpConnectionManager_HTTP2}, nil), wantErr: "codec_type"},
		{name: "access log is ignored", l: listener(t, &hcmv3.HttpConnectionManager{GenerateRequestId: wrapperspb.Bool(true)}, nil),
			want: func(l *Listener) bool { return l.RDS == "r" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &T{}
			got, err := tr.Listener(tt.l)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(got) {
				t.Errorf("got %+v (warnings %v)", got, tr.Warnings)
			}
		})
	}
}

func route(m *routev3.RouteMatch, a *routev3.RouteAction) *routev3.Route {
	if m == nil {
		m = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	}
	return &routev3.Route{Match: m, Action: &routev3.Route_Route{Route: a}}
}

func toCluster(c string) *routev3.RouteAction {
	return &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: c}}
}

func TestRoutes(t *testing.T) {
	exact := func(v string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
	}
	tests := []struct {
		name    string
		r       *routev3.Route
		want    func(conf.Route) bool
		wantErr string
	}{
		{name: "headers, method and query", r: route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/p"},
			Headers: []*routev3.HeaderMatcher{
				{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact("POST")}},
				{Name: "X-Env", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact("prod")}},
				{Name: "x-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}},
			QueryParameters: []*routev3.QueryParameterMatcher{{Name: "v", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: exact("2")}}},
		}, toCluster("c")), want: func(r conf.Route) bool {
			m := r.Match
			return m.Path == "/p" && len(m.Methods) == 1 && m.Methods[0] == "POST" && m.Headers["x-env"] == "prod" && m.Headers["x-user"] == "" && len(m.Headers) == 2 && m.Query["v"] == "2"
		}},
		{name: "weighted clusters, rewrites, timeouts, retry", r: route(nil, &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
				{Name: "a", Weight: wrapperspb.UInt32(90)}, {Name: "b", Weight: wrapperspb.UInt32(10)}, {Name: "z", Weight: wrapperspb.UInt32(0)}}}},
			PrefixRewrite: "/v2/", HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "up.internal"},
			Timeout: durationpb.New(3e9), IdleTimeout: durationpb.New(1e9),
			RetryPolicy: &routev3.RetryPolicy{RetryOn: "5xx,refused-stream,unavailable", NumRetries: wrapperspb.UInt32(2), PerTryTimeout: durationpb.New(1e9),
				RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(1e7)}},
		}), want: func(r conf.Route) bool {
			return len(r.WeightedClusters) == 2 && r.WeightedClusters[1].Weight == 10 && r.PrefixRewrite == "/v2/" && r.HostRewrite == "up.internal" &&
				r.Timeout == conf.Duration(3e9) && r.IdleTimeout == conf.Duration(1e9) && r.Retry.Attempts == 3 &&
				strings.Join(r.Retry.On, ",") == "5xx,reset" && r.Retry.Backoff.Base == conf.Duration(1e7)
		}},
		{name: "timeout 0 means none", r: route(nil, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}, Timeout: durationpb.New(0)}),
			want: func(r conf.Route) bool { return r.Timeout == noTimeout }},
		{name: "redirect", r: &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true},
				HostRedirect: "example.com", ResponseCode: routev3.RedirectAction_PERMANENT_REDIRECT}}},
			want: func(r conf.Route) bool {
				return r.Redirect.Scheme == "https" && r.Redirect.Host == "example.com" && r.Redirect.Status == 308
			}},
		{name: "direct response", r: &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/x"}},
			Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 418,
				Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "teapot"}}}}},
			want: func(r conf.Route) bool { return r.DirectResponse.Status == 418 && r.DirectResponse.Body == "teapot" }},
		{name: "regex header match is rejected", r: route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			Headers: []*routev3.HeaderMatcher{{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "a"}}}}}}, toCluster("c")), wantErr: "string_match.prefix"},
		{name: "runtime fraction is rejected", r: route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			RuntimeFraction: &corev3.RuntimeFractionalPercent{}}, toCluster("c")), wantErr: "runtime_fraction"},
		{name: "case-insensitive match is rejected", r: route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			CaseSensitive: wrapperspb.Bool(false)}, toCluster("c")), wantErr: "case_sensitive"},
		{name: "empty path is rejected, not widened", r: route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: ""}}, toCluster("c")), wantErr: "path is empty"},
		{name: "empty regex is rejected, not widened", r: route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{}}}, toCluster("c")), wantErr: "regex is empty"},
		{name: "cluster_header is rejected", r: route(nil, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_ClusterHeader{ClusterHeader: "x"}}), wantErr: "cluster_header"},
		{name: "filter disabled per route", r: func() *routev3.Route {
			r := route(nil, toCluster("c"))
			r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.wasm": anyOf(t, &routev3.FilterConfig{Disabled: true})}
			return r
		}(), want: func(r conf.Route) bool {
			return len(r.Filters) == 1 && r.Filters[0].Name == "envoy.filters.http.wasm" && r.Filters[0].Disabled
		}},
		{name: "other per-route filter config is rejected", r: func() *routev3.Route {
			r := route(nil, toCluster("c"))
			r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.wasm": anyOf(t, wrapperspb.String("x"))}
			return r
		}(), wantErr: "per-route filter config"},
		{name: "request mirroring is rejected", r: route(nil, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"},
			RequestMirrorPolicies: []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "m"}}}), wantErr: "request_mirror_policies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &T{}
			tt.r.Name = "r1"
			rc, err := tr.RouteConfig(&routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*routev3.Route{tt.r}}}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), `route_configuration "rc".virtual_hosts["vh"].routes["r1"]`) {
					t.Errorf("error %q does not say where", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rc.VHosts[0].Routes[0]; !tt.want(got) {
				t.Errorf("got %+v (warnings %v)", got, tr.Warnings)
			}
		})
	}
}

func TestClusterAndEndpoints(t *testing.T) {
	tr := &T{}
	c, err := tr.Cluster(&clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{ServiceName: "svc"}, LbPolicy: clusterv3.Cluster_MAGLEV, ConnectTimeout: durationpb.New(2e9),
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{
			{MaxConnections: wrapperspb.UInt32(10), MaxRetries: wrapperspb.UInt32(5), RetryBudget: &clusterv3.CircuitBreakers_Thresholds_RetryBudget{MinRetryConcurrency: wrapperspb.UInt32(2)}},
			{Priority: corev3.RoutingPriority_HIGH, MaxConnections: wrapperspb.UInt32(99)}}},
		OutlierDetection: &clusterv3.OutlierDetection{EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100), SuccessRateMinimumHosts: wrapperspb.UInt32(3)},
		CommonLbConfig:   &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: 30}, UpdateMergeWindow: durationpb.New(1e9)},
		HealthChecks: []*corev3.HealthCheck{{Interval: durationpb.New(5e9), Timeout: durationpb.New(1e9),
			HealthChecker: &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{Path: "/hz"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Conf
	if !c.EDS || c.ServiceName != "svc" || cc.LB != "maglev" || cc.ConnectTimeout != conf.Duration(2e9) || cc.CircuitBreaker.MaxConnections != 10 ||
		cc.CircuitBreaker.MaxRetries != 5 || cc.RetryBudget.MinConcurrency != 2 || cc.OutlierDetection.Consecutive5xx != 5 ||
		cc.OutlierDetection.ConsecutiveGatewayError != 5 || cc.HealthCheck.Path != "/hz" || cc.LBPanicThreshold == nil || *cc.LBPanicThreshold != 30 {
		t.Errorf("cluster = %+v", c)
	}
	if w := strings.Join(tr.Warnings, "\n"); !strings.Contains(w, "success_rate_minimum_hosts") || !strings.Contains(w, "update_merge_window") {
		t.Errorf("warnings %v do not mention the ignored success-rate field", tr.Warnings)
	}
	if _, err := (&T{}).Cluster(&clusterv3.Cluster{Name: "t", TransportSocket: &corev3.TransportSocket{Name: "tls"}}); err == nil || !strings.Contains(err.Error(), "transport_socket") {
		t.Errorf("upstream TLS: err = %v", err)
	}
	if _, err := (&T{}).Cluster(&clusterv3.Cluster{Name: "o", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}}); err == nil {
		t.Error("ORIGINAL_DST accepted")
	}

	ep := func(host string, port uint32, hs corev3.HealthStatus, w uint32) *endpointv3.LbEndpoint {
		return &endpointv3.LbEndpoint{HealthStatus: hs, LoadBalancingWeight: wrapperspb.UInt32(w),
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sock(host, port)}}}
	}
	eps, err := (&T{}).CLA(&endpointv3.ClusterLoadAssignment{ClusterName: "svc", Endpoints: []*endpointv3.LocalityLbEndpoints{
		{Locality: &corev3.Locality{Zone: "a"}, LbEndpoints: []*endpointv3.LbEndpoint{
			ep("10.0.0.1", 80, corev3.HealthStatus_HEALTHY, 3), ep("10.0.0.2", 80, corev3.HealthStatus_UNHEALTHY, 1),
			ep("10.0.0.3", 80, corev3.HealthStatus_DRAINING, 1), ep("10.0.0.4", 80, corev3.HealthStatus_UNKNOWN, 1)}},
		{Priority: 1, LbEndpoints: []*endpointv3.LbEndpoint{ep("10.0.1.1", 80, corev3.HealthStatus_HEALTHY, 1)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0] != (conf.Endpoint{Address: "10.0.0.1:80", Weight: 3}) || eps[1].Address != "10.0.0.4:80" {
		t.Errorf("endpoints = %+v, want the healthy and unknown priority-0 ones", eps)
	}
}

// TestAssemble: warming leftovers are handled as Envoy does.
func TestAssemble(t *testing.T) {
	s := NewSet()
	s.Listeners["l"] = &Listener{Conf: conf.Listener{Name: "l", Address: "127.0.0.1:1", Filters: []conf.Filter{{Name: "wasm", Wasm: "x.wasm"}}}, RDS: "r"}
	s.Routes["r"] = &RouteConfig{Name: "r", VHosts: []conf.VirtualHost{{Name: "v", Domains: []string{"*"}, Routes: []conf.Route{
		{Name: "gone", Match: conf.Match{Prefix: "/gone"}, Cluster: "missing"},
		{Name: "empty", Match: conf.Match{Prefix: "/empty"}, Cluster: "empty"},
		{Name: "split", Match: conf.Match{Prefix: "/"}, Filters: []conf.RouteFilter{{Name: "wasm", Disabled: true}, {Name: "absent", Disabled: true}}, WeightedClusters: []conf.WeightedCluster{{Name: "ok", Weight: 1}, {Name: "empty", Weight: 1}}},
	}}}}
	s.Clusters["ok"] = &Cluster{Conf: conf.Cluster{Name: "ok"}, EDS: true, ServiceName: "ok"}
	s.Clusters["empty"] = &Cluster{Conf: conf.Cluster{Name: "empty"}, EDS: true, ServiceName: "empty"}
	s.Endpoints["ok"] = []conf.Endpoint{{Address: "127.0.0.1:2", Weight: 1}}
	if m := s.Missing(); strings.Join(m.Endpoints, ",") != "empty" || strings.Join(m.Clusters, ",") != "missing" {
		t.Errorf("missing = %+v", m)
	}
	cfg, warns, err := s.Assemble(nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := cfg.Listeners[0].VirtualHosts[0].Routes
	if rs[0].DirectResponse == nil || rs[0].DirectResponse.Status != 503 || rs[1].DirectResponse == nil || len(rs[2].WeightedClusters) != 1 {
		t.Errorf("routes = %+v", rs)
	}
	if f := rs[2].Filters; len(f) != 1 || f[0].Name != "wasm" {
		t.Errorf("route filter overrides = %+v, want only the listener's filter", f)
	}
	if len(cfg.Clusters) != 1 || len(warns) == 0 {
		t.Errorf("clusters = %+v, warnings %v", cfg.Clusters, warns)
	}
	if ps := conf.Validate(cfg); len(ps) > 0 {
		t.Errorf("assembled config is invalid: %v", ps)
	}
}

func TestHashPolicyAndHeaderMerge(t *testing.T) {
	hdr := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}}
	}
	r := route(nil, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "ring"},
		HashPolicy: []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "X-User"}}}}})
	r.RequestHeadersToAdd = []*corev3.HeaderValueOption{hdr("x-level", "route")}
	plain := route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/plain"}}, toCluster("rr"))
	rcIn := &routev3.RouteConfiguration{Name: "rc",
		RequestHeadersToAdd:     []*corev3.HeaderValueOption{hdr("x-level", "config"), hdr("x-config", "1")},
		ResponseHeadersToRemove: []string{"server"},
		VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
			RequestHeadersToAdd: []*corev3.HeaderValueOption{hdr("x-level", "vhost"), hdr("x-vhost", "1")},
			RetryPolicy:         &routev3.RetryPolicy{RetryOn: "gateway-error", NumRetries: wrapperspb.UInt32(1)},
			Routes:              []*routev3.Route{plain, r}}}}
	tr := &T{}
	rc, err := tr.RouteConfig(rcIn)
	if err != nil {
		t.Fatal(err)
	}
	got := rc.VHosts[0].Routes[1]
	if h := got.RequestHeadersToAdd; h["x-level"] != "route" || h["x-vhost"] != "1" || h["x-config"] != "1" {
		t.Errorf("merged request headers = %v, want the route's value to win", h)
	}
	if len(got.ResponseHeadersToRemove) != 1 || got.ResponseHeadersToRemove[0] != "server" {
		t.Errorf("response_headers_to_remove = %v", got.ResponseHeadersToRemove)
	}
	if rt := rc.VHosts[0].Routes[0].Retry; rt == nil || rt.Attempts != 2 || rt.On[0] != "gateway-error" {
		t.Errorf("the virtual host's retry policy is not the default of its routes: %+v", rt)
	}
	s := NewSet()
	s.Routes["rc"] = rc
	s.Listeners["l"] = &Listener{Conf: conf.Listener{Name: "l", Address: "127.0.0.1:1"}, RDS: "rc"}
	s.Clusters["ring"] = &Cluster{Conf: conf.Cluster{Name: "ring", LB: "ring_hash", Endpoints: []conf.Endpoint{{Address: "127.0.0.1:2"}}}}
	s.Clusters["rr"] = &Cluster{Conf: conf.Cluster{Name: "rr", LB: "maglev", Endpoints: []conf.Endpoint{{Address: "127.0.0.1:3"}}}}
	cfg, _, err := s.Assemble(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		switch c.Name {
		case "ring":
			if c.Hash == nil || c.Hash.Header != "x-user" || c.LB != "ring_hash" {
				t.Errorf("ring = %+v, want hashing on x-user", c)
			}
		case "rr":
			if c.LB != "random" {
				t.Errorf("maglev without a hash_policy = %q, want random as in Envoy", c.LB)
			}
		}
	}
	if ps := conf.Validate(cfg); len(ps) > 0 {
		t.Errorf("invalid: %v", ps)
	}
}
