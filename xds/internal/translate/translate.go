package translate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	tlsinspv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"github.com/wasmesh/wasmesh/conf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// T translates resources and collects the warnings of ignored fields.
// It is not safe for concurrent use; make one per update.
type T struct {
	// Warnings are the ignored fields, one line each, without duplicates.
	Warnings []string
	seen     map[string]bool
}

func (t *T) warnf(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	if !t.seen[w] {
		t.seen[w] = true
		t.Warnings = append(t.Warnings, w)
	}
}

// Listener is one translated LDS resource.
type Listener struct {
	// Conf has the routes when the route config is inline; with RDS it
	// has none until Assemble joins them.
	Conf conf.Listener
	// RDS names the route configuration the listener waits for.
	RDS string
	// Skip is set for a listener Envoy would not bind (bind_to_port:
	// false): it only exists for connections redirected to it.
	Skip bool
	// Hash is the hash keys of an inline route configuration.
	Hash map[string]conf.HashKey
}

// RouteConfig is one translated RDS resource (or an inline route_config).
type RouteConfig struct {
	Name   string
	VHosts []conf.VirtualHost
	// Hash is the hash key a route's hash_policy sets on its cluster.
	Hash map[string]conf.HashKey
}

// Cluster is one translated CDS resource.
type Cluster struct {
	Conf conf.Cluster
	// EDS is set when the endpoints come from a ClusterLoadAssignment
	// named ServiceName.
	EDS         bool
	ServiceName string
}

func dur(d *durationpb.Duration) conf.Duration {
	if d == nil {
		return 0
	}
	return conf.Duration(d.AsDuration())
}

func u32(v *wrapperspb.UInt32Value, def int) int {
	if v == nil {
		return def
	}
	return int(v.GetValue())
}

// Address translates an Envoy address to host:port.
func (t *T) Address(path string, a *corev3.Address) (string, error) {
	if a == nil {
		return "", fmt.Errorf("%s: address is missing", path)
	}
	if err := t.check(path, a); err != nil {
		return "", err
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", fmt.Errorf("%s: only socket_address is supported", path)
	}
	if err := t.check(path+".socket_address", sa); err != nil {
		return "", err
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))), nil
}

// Listener translates one listener.
func (t *T) Listener(l *listenerv3.Listener) (*Listener, error) {
	path := fmt.Sprintf("listener %q", l.GetName())
	if err := t.check(path, l); err != nil {
		return nil, err
	}
	if l.GetName() == "" {
		return nil, fmt.Errorf("%s: a listener needs a name", path)
	}
	out := &Listener{Conf: conf.Listener{Name: l.GetName()}}
	if l.BindToPort != nil && !l.GetBindToPort().GetValue() {
		t.warnf("%s: bind_to_port false; meshd skips the listener (it only serves connections redirected by original-destination listeners)", path)
		out.Skip = true
		return out, nil
	}
	addr, err := t.Address(path+".address", l.GetAddress())
	if err != nil {
		return nil, err
	}
	out.Conf.Address = addr
	for i, lf := range l.GetListenerFilters() {
		fp := fmt.Sprintf("%s.listener_filters[%d]", path, i)
		if err := t.check(fp, lf); err != nil {
			return nil, err
		}
		if tc := lf.GetTypedConfig(); tc != nil && tc.MessageIs(&tlsinspv3.TlsInspector{}) || lf.GetName() == "envoy.filters.listener.tls_inspector" || lf.GetName() == "envoy.filters.listener.http_inspector" {
			t.warnf("%s (%s) ignored: meshd listens on plaintext HTTP, where it has nothing to inspect", fp, lf.GetName())
			continue
		}
		return nil, fmt.Errorf("%s: listener filter %q is not supported: it changes how connections are accepted", fp, lf.GetName())
	}
	chains := l.GetFilterChains()
	if dc := l.GetDefaultFilterChain(); dc != nil {
		chains = append(slices.Clone(chains), dc)
	}
	if len(chains) != 1 {
		return nil, fmt.Errorf("%s: meshd needs exactly one filter chain with an http_connection_manager, found %d", path, len(chains))
	}
	cp := path + ".filter_chains[0]"
	if err := t.check(cp, chains[0]); err != nil {
		return nil, err
	}
	fs := chains[0].GetFilters()
	if len(fs) != 1 {
		return nil, fmt.Errorf("%s: meshd needs exactly one network filter, the http_connection_manager; found %d", cp, len(fs))
	}
	fp := cp + ".filters[0]"
	if err := t.check(fp, fs[0]); err != nil {
		return nil, err
	}
	msg, err := unpack(fp, fs[0].GetTypedConfig())
	if err != nil {
		return nil, err
	}
	hcm, ok := msg.(*hcmv3.HttpConnectionManager)
	if !ok {
		return nil, fmt.Errorf("%s: network filter %q (%T) is not supported: meshd proxies HTTP only", fp, fs[0].GetName(), msg)
	}
	if err := t.hcm(fp+".http_connection_manager", hcm, out); err != nil {
		return nil, err
	}
	return out, nil
}

func unpack(path string, a *anypb.Any) (proto.Message, error) {
	if a == nil {
		return nil, fmt.Errorf("%s: typed_config is missing", path)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("%s: typed_config %s: %w", path, a.GetTypeUrl(), err)
	}
	return m, nil
}

func (t *T) hcm(path string, h *hcmv3.HttpConnectionManager, out *Listener) error {
	if err := t.check(path, h); err != nil {
		return err
	}
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO, hcmv3.HttpConnectionManager_HTTP1:
	default:
		return fmt.Errorf("%s.codec_type %s is not supported: meshd listeners speak HTTP/1.1", path, h.GetCodecType())
	}
	if o := h.GetCommonHttpProtocolOptions(); o != nil {
		if err := t.check(path+".common_http_protocol_options", o); err != nil {
			return err
		}
		out.Conf.IdleTimeout = dur(o.GetIdleTimeout())
	}
	out.Conf.MaxRequestHeadersKB = u32(h.GetMaxRequestHeadersKb(), 0)
	switch {
	case h.GetRds() != nil:
		if err := t.check(path+".rds", h.GetRds()); err != nil {
			return err
		}
		out.RDS = h.GetRds().GetRouteConfigName()
		if out.RDS == "" {
			return fmt.Errorf("%s.rds.route_config_name is empty", path)
		}
	case h.GetRouteConfig() != nil:
		rc, err := t.RouteConfig(h.GetRouteConfig())
		if err != nil {
			return err
		}
		out.Conf.VirtualHosts = rc.VHosts
		out.Hash = rc.Hash
	default:
		return fmt.Errorf("%s: neither route_config nor rds is set", path)
	}
	filters := h.GetHttpFilters()
	if len(filters) == 0 {
		return fmt.Errorf("%s.http_filters: empty; Envoy needs the router filter last", path)
	}
	for i, hf := range filters {
		fp := fmt.Sprintf("%s.http_filters[%d]", path, i)
		if err := t.check(fp, hf); err != nil {
			return err
		}
		msg, err := unpack(fp, hf.GetTypedConfig())
		if err != nil {
			if hf.GetIsOptional() {
				t.warnf("%s (%s) skipped: optional and unknown to meshd", fp, hf.GetName())
				continue
			}
			return err
		}
		switch f := msg.(type) {
		case *routerv3.Router:
			if i != len(filters)-1 {
				return fmt.Errorf("%s: the router filter must be last", fp)
			}
			if proto.Size(f) > 0 {
				t.warnf("%s: router filter options ignored (%s)", fp, tuning)
			}
		case *wasmfv3.Wasm:
			cf, err := t.wasm(fp, hf.GetName(), f)
			if err != nil {
				return err
			}
			for _, other := range out.Conf.Filters {
				if other.Name == cf.Name {
					return fmt.Errorf("%s: two HTTP filters are named %q; routes could not tell them apart", fp, cf.Name)
				}
			}
			out.Conf.Filters = append(out.Conf.Filters, cf)
		default:
			if hf.GetIsOptional() {
				t.warnf("%s (%s) skipped: optional and not supported by meshd", fp, hf.GetName())
				continue
			}
			return fmt.Errorf("%s: HTTP filter %q (%s) is not supported; meshd runs Wasm filters and the router (mark it is_optional to skip it)", fp, hf.GetName(), hf.GetTypedConfig().GetTypeUrl())
		}
	}
	if _, ok := must(unpack("", filters[len(filters)-1].GetTypedConfig())).(*routerv3.Router); !ok {
		return fmt.Errorf("%s.http_filters: the last filter must be the router (envoy.filters.http.router)", path)
	}
	return nil
}

func must(m proto.Message, _ error) proto.Message { return m }

func (t *T) wasm(path, name string, w *wasmfv3.Wasm) (conf.Filter, error) {
	if err := t.check(path, w); err != nil {
		return conf.Filter{}, err
	}
	pc := w.GetConfig()
	if pc == nil {
		return conf.Filter{}, fmt.Errorf("%s.config is missing", path)
	}
	pp := path + ".config"
	if err := t.check(pp, pc); err != nil {
		return conf.Filter{}, err
	}
	// The HTTP filter's name, because typed_per_filter_config refers to
	// the filter by it.
	f := conf.Filter{Name: name, FailOpen: pc.GetFailOpen() || pc.GetFailurePolicy() == wasmv3.FailurePolicy_FAIL_OPEN}
	if f.Name == "" {
		f.Name = pc.GetName()
	}
	if pc.GetRootId() != "" {
		t.warnf("%s.root_id %q ignored: meshd starts the module's default root context", pp, pc.GetRootId())
	}
	vm := pc.GetVmConfig()
	if vm == nil {
		return conf.Filter{}, fmt.Errorf("%s.vm_config is missing (meshd needs vm_config.code.local.filename)", pp)
	}
	if err := t.check(pp+".vm_config", vm); err != nil {
		return conf.Filter{}, err
	}
	if rt := vm.GetRuntime(); rt != "" && rt != "envoy.wasm.runtime.v8" && rt != "envoy.wasm.runtime.wamr" && rt != "envoy.wasm.runtime.wasmtime" && rt != "envoy.wasm.runtime.wavm" {
		return conf.Filter{}, fmt.Errorf("%s.vm_config.runtime %q is not a Wasm runtime (null VMs run native code meshd does not have)", pp, rt)
	}
	code := vm.GetCode()
	if err := t.check(pp+".vm_config.code", code); err != nil {
		return conf.Filter{}, err
	}
	local := code.GetLocal()
	if local == nil {
		return conf.Filter{}, fmt.Errorf("%s.vm_config.code: meshd loads modules from code.local.filename only", pp)
	}
	if err := t.check(pp+".vm_config.code.local", local); err != nil {
		return conf.Filter{}, err
	}
	if local.GetFilename() == "" {
		return conf.Filter{}, fmt.Errorf("%s.vm_config.code.local: meshd loads modules from a filename, not inline bytes", pp)
	}
	f.Wasm = local.GetFilename()
	if c := pc.GetConfiguration(); c != nil {
		cfg, err := pluginConfig(c)
		if err != nil {
			return conf.Filter{}, fmt.Errorf("%s.configuration: %w", pp, err)
		}
		f.Config = cfg
	}
	return f, nil
}

// pluginConfig reads a Wasm plugin's configuration: a JSON object in a
// StringValue or BytesValue, as Envoy users write it.
func pluginConfig(a *anypb.Any) (map[string]any, error) {
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	var raw []byte
	switch v := m.(type) {
	case *wrapperspb.StringValue:
		raw = []byte(v.GetValue())
	case *wrapperspb.BytesValue:
		raw = v.GetValue()
	default:
		return nil, fmt.Errorf("%s: meshd passes a JSON object in a google.protobuf.StringValue or BytesValue", a.GetTypeUrl())
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("meshd's filters take a JSON object: %w", err)
	}
	return out, nil
}

// RouteConfig translates one route configuration.
func (t *T) RouteConfig(rc *routev3.RouteConfiguration) (*RouteConfig, error) {
	path := fmt.Sprintf("route_configuration %q", rc.GetName())
	if err := t.check(path, rc); err != nil {
		return nil, err
	}
	out := &RouteConfig{Name: rc.GetName()}
	top, err := t.headers(path, rc)
	if err != nil {
		return nil, err
	}
	for i, vh := range rc.GetVirtualHosts() {
		vp := fmt.Sprintf("%s.virtual_hosts[%s]", path, key(vh.GetName(), i))
		if err := t.check(vp, vh); err != nil {
			return nil, err
		}
		hm, err := t.headers(vp, vh)
		if err != nil {
			return nil, err
		}
		cv := conf.VirtualHost{Name: vh.GetName(), Domains: vh.GetDomains()}
		var defRetry *routev3.RetryPolicy
		if vh.GetRetryPolicy() != nil {
			defRetry = vh.GetRetryPolicy()
		}
		disabled, err := t.perFilter(vp, vh.GetTypedPerFilterConfig())
		if err != nil {
			return nil, err
		}
		for j, r := range vh.GetRoutes() {
			rp := fmt.Sprintf("%s.routes[%s]", vp, key(r.GetName(), j))
			cr, hash, err := t.route(rp, r, defRetry)
			if err != nil {
				return nil, err
			}
			rm, err := t.headers(rp, r)
			if err != nil {
				return nil, err
			}
			// Envoy applies route, then virtual host, then route
			// configuration header mutations; the most specific wins.
			merge(&cr, rm, hm, top)
			rd, err := t.perFilter(rp, r.GetTypedPerFilterConfig())
			if err != nil {
				return nil, err
			}
			for _, n := range append(slices.Clone(disabled), rd...) {
				if !slices.ContainsFunc(cr.Filters, func(f conf.RouteFilter) bool { return f.Name == n }) {
					cr.Filters = append(cr.Filters, conf.RouteFilter{Name: n, Disabled: true})
				}
			}
			for cl, hk := range hash {
				if out.Hash == nil {
					out.Hash = map[string]conf.HashKey{}
				}
				if old, ok := out.Hash[cl]; ok && old != hk {
					return nil, fmt.Errorf("%s.route.hash_policy: cluster %q is hashed on different keys by two routes; meshd keeps one hash key per cluster", rp, cl)
				}
				out.Hash[cl] = hk
			}
			cv.Routes = append(cv.Routes, cr)
		}
		out.VHosts = append(out.VHosts, cv)
	}
	return out, nil
}

func key(name string, i int) string {
	if name != "" {
		return strconv.Quote(name)
	}
	return strconv.Itoa(i)
}

// perFilter reads typed_per_filter_config: meshd supports switching a
// filter off for a route or virtual host (FilterConfig{disabled: true}).
func (t *T) perFilter(path string, m map[string]*anypb.Any) ([]string, error) {
	var off []string
	for _, name := range sortedKeys(m) {
		fp := fmt.Sprintf("%s.typed_per_filter_config[%q]", path, name)
		msg, err := unpack(fp, m[name])
		if err != nil {
			return nil, err
		}
		fc, ok := msg.(*routev3.FilterConfig)
		if !ok {
			return nil, fmt.Errorf("%s: per-route filter config %s is not supported; meshd can only disable a filter per route (config.route.v3.FilterConfig{disabled: true})", fp, m[name].GetTypeUrl())
		}
		if err := t.check(fp, fc); err != nil {
			return nil, err
		}
		if fc.GetConfig() != nil {
			return nil, fmt.Errorf("%s.config: per-route filter config is not supported", fp)
		}
		if fc.GetDisabled() {
			off = append(off, name)
		}
	}
	return off, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

type headerMutations struct {
	reqAdd, respAdd       map[string]string
	reqRemove, respRemove []string
}

type headerSource interface {
	GetRequestHeadersToAdd() []*corev3.HeaderValueOption
	GetResponseHeadersToAdd() []*corev3.HeaderValueOption
	GetRequestHeadersToRemove() []string
	GetResponseHeadersToRemove() []string
}

func (t *T) headers(path string, s headerSource) (headerMutations, error) {
	var hm headerMutations
	conv := func(field string, opts []*corev3.HeaderValueOption) (map[string]string, error) {
		var out map[string]string
		for i, o := range opts {
			op := fmt.Sprintf("%s.%s[%d]", path, field, i)
			if err := t.check(op, o); err != nil {
				return nil, err
			}
			if err := t.check(op+".header", o.GetHeader()); err != nil {
				return nil, err
			}
			if o.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD && o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				return nil, fmt.Errorf("%s.append_action %s is not supported: meshd adds or overwrites", op, o.GetAppendAction())
			}
			if out == nil {
				out = map[string]string{}
			}
			out[strings.ToLower(o.GetHeader().GetKey())] = o.GetHeader().GetValue()
		}
		return out, nil
	}
	var err error
	if hm.reqAdd, err = conv("request_headers_to_add", s.GetRequestHeadersToAdd()); err != nil {
		return hm, err
	}
	if hm.respAdd, err = conv("response_headers_to_add", s.GetResponseHeadersToAdd()); err != nil {
		return hm, err
	}
	hm.reqRemove, hm.respRemove = s.GetRequestHeadersToRemove(), s.GetResponseHeadersToRemove()
	return hm, nil
}

func merge(r *conf.Route, levels ...headerMutations) {
	for _, l := range levels {
		for k, v := range l.reqAdd {
			if r.RequestHeadersToAdd == nil {
				r.RequestHeadersToAdd = map[string]string{}
			}
			if _, ok := r.RequestHeadersToAdd[k]; !ok {
				r.RequestHeadersToAdd[k] = v
			}
		}
		for k, v := range l.respAdd {
			if r.ResponseHeadersToAdd == nil {
				r.ResponseHeadersToAdd = map[string]string{}
			}
			if _, ok := r.ResponseHeadersToAdd[k]; !ok {
				r.ResponseHeadersToAdd[k] = v
			}
		}
		r.RequestHeadersToRemove = append(r.RequestHeadersToRemove, l.reqRemove...)
		r.ResponseHeadersToRemove = append(r.ResponseHeadersToRemove, l.respRemove...)
	}
}

// noTimeout stands for Envoy's timeout: 0s (no timeout at all).
const noTimeout = conf.Duration(24 * time.Hour)

func (t *T) route(path string, r *routev3.Route, defRetry *routev3.RetryPolicy) (conf.Route, map[string]conf.HashKey, error) {
	if err := t.check(path, r); err != nil {
		return conf.Route{}, nil, err
	}
	cr := conf.Route{Name: r.GetName()}
	m, err := t.match(path+".match", r.GetMatch())
	if err != nil {
		return cr, nil, err
	}
	cr.Match = m
	var hash map[string]conf.HashKey
	switch {
	case r.GetRoute() != nil:
		hash, err = t.action(path+".route", r.GetRoute(), &cr, defRetry)
		if err != nil {
			return cr, nil, err
		}
	case r.GetRedirect() != nil:
		rd := r.GetRedirect()
		rp := path + ".redirect"
		if err := t.check(rp, rd); err != nil {
			return cr, nil, err
		}
		cr.Redirect = &conf.Redirect{Host: rd.GetHostRedirect(), Path: rd.GetPathRedirect(), PrefixRewrite: rd.GetPrefixRewrite(), Scheme: rd.GetSchemeRedirect()}
		if rd.GetHttpsRedirect() {
			cr.Redirect.Scheme = "https"
		}
		cr.Redirect.Status = map[routev3.RedirectAction_RedirectResponseCode]int{
			routev3.RedirectAction_MOVED_PERMANENTLY:  301,
			routev3.RedirectAction_FOUND:              302,
			routev3.RedirectAction_SEE_OTHER:          303,
			routev3.RedirectAction_TEMPORARY_REDIRECT: 307,
			routev3.RedirectAction_PERMANENT_REDIRECT: 308,
		}[rd.GetResponseCode()]
	case r.GetDirectResponse() != nil:
		d := r.GetDirectResponse()
		dp := path + ".direct_response"
		if err := t.check(dp, d); err != nil {
			return cr, nil, err
		}
		body, err := t.dataSource(dp+".body", d.GetBody())
		if err != nil {
			return cr, nil, err
		}
		cr.DirectResponse = &conf.DirectResponse{Status: int(d.GetStatus()), Body: body}
	default:
		return cr, nil, fmt.Errorf("%s: no action (route, redirect or direct_response)", path)
	}
	return cr, hash, nil
}

func (t *T) dataSource(path string, d *corev3.DataSource) (string, error) {
	if d == nil {
		return "", nil
	}
	if err := t.check(path, d); err != nil {
		return "", err
	}
	switch {
	case d.GetFilename() != "":
		b, err := os.ReadFile(d.GetFilename())
		if err != nil {
			return "", fmt.Errorf("%s.filename: %w", path, err)
		}
		return string(b), nil
	case d.GetInlineBytes() != nil:
		return string(d.GetInlineBytes()), nil
	}
	return d.GetInlineString(), nil
}

func (t *T) match(path string, m *routev3.RouteMatch) (conf.Match, error) {
	var cm conf.Match
	if m == nil {
		return cm, fmt.Errorf("%s is missing", path)
	}
	if err := t.check(path, m); err != nil {
		return cm, err
	}
	if m.CaseSensitive != nil && !m.GetCaseSensitive().GetValue() {
		return cm, fmt.Errorf("%s.case_sensitive false is not supported: meshd matches paths case-sensitively", path)
	}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		cm.Prefix = p.Prefix
		if cm.Prefix == "" {
			cm.Prefix = "/"
		}
	case *routev3.RouteMatch_Path:
		if p.Path == "" {
			return cm, fmt.Errorf("%s.path is empty", path)
		}
		cm.Path = p.Path
	case *routev3.RouteMatch_SafeRegex:
		if err := t.check(path+".safe_regex", p.SafeRegex); err != nil {
			return cm, err
		}
		cm.Regex = p.SafeRegex.GetRegex()
		if cm.Regex == "" {
			return cm, fmt.Errorf("%s.safe_regex.regex is empty", path)
		}
	default:
		return cm, fmt.Errorf("%s: a prefix, path or safe_regex is needed", path)
	}
	for i, h := range m.GetHeaders() {
		hp := fmt.Sprintf("%s.headers[%d]", path, i)
		if err := t.check(hp, h); err != nil {
			return cm, err
		}
		name := strings.ToLower(h.GetName())
		var val string
		switch {
		case h.GetPresentMatch():
			val = ""
		case h.GetStringMatch() != nil:
			if err := t.check(hp+".string_match", h.GetStringMatch()); err != nil {
				return cm, err
			}
			val = h.GetStringMatch().GetExact()
			if val == "" {
				return cm, fmt.Errorf("%s.string_match: an empty exact value is not supported (meshd reads it as presence)", hp)
			}
		case h.GetExactMatch() != "":
			val = h.GetExactMatch()
		default:
			return cm, fmt.Errorf("%s: meshd matches headers by exact value or presence only", hp)
		}
		if name == ":method" {
			if val == "" {
				continue
			}
			cm.Methods = append(cm.Methods, val)
			continue
		}
		if strings.HasPrefix(name, ":") {
			return cm, fmt.Errorf("%s: pseudo-header %s is not supported (only :method)", hp, name)
		}
		if cm.Headers == nil {
			cm.Headers = map[string]string{}
		}
		if _, dup := cm.Headers[name]; dup {
			return cm, fmt.Errorf("%s: header %s is matched twice", hp, name)
		}
		cm.Headers[name] = val
	}
	for i, q := range m.GetQueryParameters() {
		qp := fmt.Sprintf("%s.query_parameters[%d]", path, i)
		if err := t.check(qp, q); err != nil {
			return cm, err
		}
		sm := q.GetStringMatch()
		if sm == nil {
			return cm, fmt.Errorf("%s: meshd matches query parameters by string_match.exact only", qp)
		}
		if err := t.check(qp+".string_match", sm); err != nil {
			return cm, err
		}
		if cm.Query == nil {
			cm.Query = map[string]string{}
		}
		cm.Query[q.GetName()] = sm.GetExact()
	}
	return cm, nil
}

func (t *T) action(path string, a *routev3.RouteAction, cr *conf.Route, defRetry *routev3.RetryPolicy) (map[string]conf.HashKey, error) {
	if err := t.check(path, a); err != nil {
		return nil, err
	}
	var targets []string
	switch {
	case a.GetCluster() != "":
		cr.Cluster = a.GetCluster()
		targets = []string{cr.Cluster}
	case a.GetWeightedClusters() != nil:
		wc := a.GetWeightedClusters()
		wp := path + ".weighted_clusters"
		if err := t.check(wp, wc); err != nil {
			return nil, err
		}
		for i, c := range wc.GetClusters() {
			cp := fmt.Sprintf("%s.clusters[%d]", wp, i)
			if err := t.check(cp, c); err != nil {
				return nil, err
			}
			w := u32(c.GetWeight(), 0)
			if w == 0 {
				continue // Envoy sends nothing to a zero weight
			}
			cr.WeightedClusters = append(cr.WeightedClusters, conf.WeightedCluster{Name: c.GetName(), Weight: w})
			targets = append(targets, c.GetName())
		}
		if len(cr.WeightedClusters) == 0 {
			return nil, fmt.Errorf("%s: every cluster has weight 0", wp)
		}
	default:
		return nil, fmt.Errorf("%s: meshd needs cluster or weighted_clusters", path)
	}
	cr.PrefixRewrite = a.GetPrefixRewrite()
	cr.HostRewrite = a.GetHostRewriteLiteral()
	if a.Timeout != nil {
		cr.Timeout = dur(a.GetTimeout())
		if cr.Timeout == 0 {
			cr.Timeout = noTimeout
		}
	}
	cr.IdleTimeout = dur(a.GetIdleTimeout())
	rp := a.GetRetryPolicy()
	if rp == nil {
		rp = defRetry
	}
	if rp != nil {
		rt, err := t.retry(path+".retry_policy", rp)
		if err != nil {
			return nil, err
		}
		cr.Retry = rt
	}
	var hash map[string]conf.HashKey
	for i, hp := range a.GetHashPolicy() {
		pp := fmt.Sprintf("%s.hash_policy[%d]", path, i)
		if err := t.check(pp, hp); err != nil {
			return nil, err
		}
		var hk conf.HashKey
		switch {
		case hp.GetHeader() != nil:
			hk.Header = strings.ToLower(hp.GetHeader().GetHeaderName())
		case hp.GetCookie() != nil:
			if hp.GetCookie().GetTtl() != nil {
				return nil, fmt.Errorf("%s.cookie.ttl: meshd does not generate affinity cookies", pp)
			}
			hk.Cookie = hp.GetCookie().GetName()
		case hp.GetConnectionProperties() != nil:
			hk.SourceIP = hp.GetConnectionProperties().GetSourceIp()
		}
		if i > 0 {
			return nil, fmt.Errorf("%s: meshd hashes on one key per route", pp)
		}
		hash = map[string]conf.HashKey{}
		for _, c := range targets {
			hash[c] = hk
		}
	}
	return hash, nil
}

// retryOn maps Envoy's retry conditions to meshd's.
var retryOn = map[string]string{
	"5xx": "5xx", "gateway-error": "gateway-error", "reset": "reset", "connect-failure": "connect-failure",
	"retriable-status-codes": "retriable-status-codes", "refused-stream": "reset", "reset-before-request": "reset",
}

func (t *T) retry(path string, p *routev3.RetryPolicy) (*conf.Retry, error) {
	if err := t.check(path, p); err != nil {
		return nil, err
	}
	rt := &conf.Retry{Attempts: u32(p.GetNumRetries(), 1) + 1, PerTryTimeout: dur(p.GetPerTryTimeout())}
	for _, on := range strings.Split(p.GetRetryOn(), ",") {
		on = strings.TrimSpace(on)
		if on == "" {
			continue
		}
		m, ok := retryOn[on]
		if !ok {
			t.warnf("%s.retry_on %q ignored (%s)", path, on, fewerRetry)
			continue
		}
		if !slices.Contains(rt.On, m) {
			rt.On = append(rt.On, m)
		}
	}
	if len(rt.On) == 0 {
		// Envoy retries nothing without a condition it knows.
		rt.Attempts = 1
		rt.On = []string{"connect-failure"}
	}
	for _, c := range p.GetRetriableStatusCodes() {
		rt.RetriableStatusCodes = append(rt.RetriableStatusCodes, int(c))
	}
	if b := p.GetRetryBackOff(); b != nil {
		if err := t.check(path+".retry_back_off", b); err != nil {
			return nil, err
		}
		rt.Backoff = conf.Backoff{Base: dur(b.GetBaseInterval()), Max: dur(b.GetMaxInterval())}
	}
	return rt, nil
}

// Cluster translates one cluster.
func (t *T) Cluster(c *clusterv3.Cluster) (*Cluster, error) {
	path := fmt.Sprintf("cluster %q", c.GetName())
	if err := t.check(path, c); err != nil {
		return nil, err
	}
	if c.GetName() == "" {
		return nil, fmt.Errorf("%s: a cluster needs a name", path)
	}
	out := &Cluster{Conf: conf.Cluster{Name: c.GetName(), ConnectTimeout: dur(c.GetConnectTimeout())}}
	switch c.GetType() {
	case clusterv3.Cluster_EDS:
		out.EDS = true
		out.ServiceName = c.GetName()
		if e := c.GetEdsClusterConfig(); e != nil {
			if err := t.check(path+".eds_cluster_config", e); err != nil {
				return nil, err
			}
			if e.GetServiceName() != "" {
				out.ServiceName = e.GetServiceName()
			}
		}
		if c.GetLoadAssignment() != nil {
			t.warnf("%s.load_assignment ignored: an EDS cluster takes its endpoints from EDS", path)
		}
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
		if c.GetType() != clusterv3.Cluster_STATIC {
			t.warnf("%s.type %s: meshd resolves host names when it connects, with the system resolver", path, c.GetType())
		}
		eps, err := t.CLA(c.GetLoadAssignment())
		if err != nil {
			return nil, fmt.Errorf("%s.load_assignment: %w", path, err)
		}
		out.Conf.Endpoints = eps
	default:
		return nil, fmt.Errorf("%s.type %s is not supported: use EDS, STATIC or STRICT_DNS", path, c.GetType())
	}
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		out.Conf.LB = "round_robin"
	case clusterv3.Cluster_LEAST_REQUEST:
		out.Conf.LB = "least_request"
	case clusterv3.Cluster_RANDOM:
		out.Conf.LB = "random"
	case clusterv3.Cluster_RING_HASH:
		out.Conf.LB = "ring_hash"
	case clusterv3.Cluster_MAGLEV:
		out.Conf.LB = "maglev"
	default:
		return nil, fmt.Errorf("%s.lb_policy %s is not supported", path, c.GetLbPolicy())
	}
	if cl := c.GetCommonLbConfig(); cl != nil {
		if err := t.check(path+".common_lb_config", cl); err != nil {
			return nil, err
		}
		if p := cl.GetHealthyPanicThreshold(); p != nil {
			v := int(math.Round(p.GetValue()))
			out.Conf.LBPanicThreshold = &v
		}
	}
	if err := t.protocolOptions(path, c.GetTypedExtensionProtocolOptions()); err != nil {
		return nil, err
	}
	if cb := c.GetCircuitBreakers(); cb != nil {
		if err := t.check(path+".circuit_breakers", cb); err != nil {
			return nil, err
		}
		for i, th := range cb.GetThresholds() {
			tp := fmt.Sprintf("%s.circuit_breakers.thresholds[%d]", path, i)
			if err := t.check(tp, th); err != nil {
				return nil, err
			}
			if th.GetPriority() != corev3.RoutingPriority_DEFAULT {
				t.warnf("%s ignored: meshd has one routing priority, DEFAULT", tp)
				continue
			}
			out.Conf.CircuitBreaker = &conf.CircuitBreaker{
				MaxConnections: u32(th.GetMaxConnections(), 0), MaxPending: u32(th.GetMaxPendingRequests(), 0),
				MaxRequests: u32(th.GetMaxRequests(), 0), MaxRetries: u32(th.GetMaxRetries(), 0),
			}
			if rb := th.GetRetryBudget(); rb != nil {
				if err := t.check(tp+".retry_budget", rb); err != nil {
					return nil, err
				}
				out.Conf.RetryBudget = &conf.RetryBudget{Percent: 20, MinConcurrency: u32(rb.GetMinRetryConcurrency(), 3)}
				if rb.GetBudgetPercent() != nil {
					out.Conf.RetryBudget.Percent = rb.GetBudgetPercent().GetValue()
				}
			}
		}
	}
	if od := c.GetOutlierDetection(); od != nil {
		if err := t.check(path+".outlier_detection", od); err != nil {
			return nil, err
		}
		o := &conf.OutlierDetection{Interval: dur(od.GetInterval()), BaseEjectionTime: dur(od.GetBaseEjectionTime()), MaxEjectionPercent: u32(od.GetMaxEjectionPercent(), 0)}
		// Envoy's defaults: 5 consecutive 5xx enforced at 100%; gateway
		// failures counted but enforced at 0%, i.e. not ejected.
		if u32(od.GetEnforcingConsecutive_5Xx(), 100) > 0 {
			o.Consecutive5xx = u32(od.GetConsecutive_5Xx(), 5)
		}
		if u32(od.GetEnforcingConsecutiveGatewayFailure(), 0) > 0 {
			o.ConsecutiveGatewayError = u32(od.GetConsecutiveGatewayFailure(), 5)
		}
		if o.MaxEjectionPercent == 0 && od.MaxEjectionPercent != nil {
			t.warnf("%s.outlier_detection.max_ejection_percent 0 ignored: meshd uses 10", path)
		}
		out.Conf.OutlierDetection = o
	}
	for i, hc := range c.GetHealthChecks() {
		hp := fmt.Sprintf("%s.health_checks[%d]", path, i)
		if err := t.check(hp, hc); err != nil {
			return nil, err
		}
		if i > 0 {
			return nil, fmt.Errorf("%s: meshd runs one health check per cluster", hp)
		}
		h := hc.GetHttpHealthCheck()
		if h == nil {
			return nil, fmt.Errorf("%s: meshd runs http_health_check only", hp)
		}
		if err := t.check(hp+".http_health_check", h); err != nil {
			return nil, err
		}
		if h.GetHost() != "" {
			t.warnf("%s.http_health_check.host ignored: meshd sends the endpoint address as Host", hp)
		}
		out.Conf.HealthCheck = &conf.HealthCheck{Path: h.GetPath(), Interval: dur(hc.GetInterval()), Timeout: dur(hc.GetTimeout()),
			UnhealthyThreshold: u32(hc.GetUnhealthyThreshold(), 0), HealthyThreshold: u32(hc.GetHealthyThreshold(), 0)}
	}
	return out, nil
}

func (t *T) protocolOptions(path string, m map[string]*anypb.Any) error {
	for _, name := range sortedKeys(m) {
		pp := fmt.Sprintf("%s.typed_extension_protocol_options[%q]", path, name)
		msg, err := unpack(pp, m[name])
		if err != nil {
			return err
		}
		o, ok := msg.(*httpv3.HttpProtocolOptions)
		if !ok {
			return fmt.Errorf("%s: %s is not supported", pp, m[name].GetTypeUrl())
		}
		switch {
		case o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil, o.GetExplicitHttpConfig().GetHttp3ProtocolOptions() != nil:
			return fmt.Errorf("%s: upstream HTTP/2 and HTTP/3 are not supported: meshd speaks HTTP/1.1 to upstreams", pp)
		case o.GetAutoConfig() != nil, o.GetUseDownstreamProtocolConfig() != nil:
			t.warnf("%s: meshd speaks HTTP/1.1 to upstreams", pp)
		}
		if o.GetCommonHttpProtocolOptions() != nil || len(o.GetHttpFilters()) > 0 || o.GetUpstreamHttpProtocolOptions() != nil || o.GetHeaderValidationConfig() != nil {
			t.warnf("%s: options other than the protocol ignored (%s)", pp, tuning)
		}
	}
	return nil
}

// ErrNoAssignment is returned for a nil ClusterLoadAssignment.
var ErrNoAssignment = errors.New("no endpoints (load_assignment is missing)")

// CLA translates a cluster load assignment into endpoints. Endpoints
// Envoy would not send to (UNHEALTHY, DRAINING, TIMEOUT) are left out; only
// the lowest priority present is used.
func (t *T) CLA(cla *endpointv3.ClusterLoadAssignment) ([]conf.Endpoint, error) {
	if cla == nil {
		return nil, ErrNoAssignment
	}
	path := fmt.Sprintf("cluster_load_assignment %q", cla.GetClusterName())
	if err := t.check(path, cla); err != nil {
		return nil, err
	}
	best := uint32(1<<32 - 1)
	for _, l := range cla.GetEndpoints() {
		if len(l.GetLbEndpoints()) > 0 {
			best = min(best, l.GetPriority())
		}
	}
	var out []conf.Endpoint
	seen := map[string]int{}
	for i, l := range cla.GetEndpoints() {
		lp := fmt.Sprintf("%s.endpoints[%d]", path, i)
		if err := t.check(lp, l); err != nil {
			return nil, err
		}
		if l.GetPriority() != best {
			if len(l.GetLbEndpoints()) == 0 {
				continue
			}
			t.warnf("%s: priority %d endpoints left out; meshd uses the lowest priority only (no failover between priorities)", lp, l.GetPriority())
			continue
		}
		for j, e := range l.GetLbEndpoints() {
			ep := fmt.Sprintf("%s.lb_endpoints[%d]", lp, j)
			if err := t.check(ep, e); err != nil {
				return nil, err
			}
			switch e.GetHealthStatus() {
			case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
				continue
			}
			if err := t.check(ep+".endpoint", e.GetEndpoint()); err != nil {
				return nil, err
			}
			addr, err := t.Address(ep+".endpoint.address", e.GetEndpoint().GetAddress())
			if err != nil {
				return nil, err
			}
			w := u32(e.GetLoadBalancingWeight(), 1)
			if k, dup := seen[addr]; dup {
				// The same address twice: Envoy balances each as its own
				// host, which is the sum of their weights.
				out[k].Weight += w
				continue
			}
			seen[addr] = len(out)
			out = append(out, conf.Endpoint{Address: addr, Weight: w})
		}
	}
	return out, nil
}
