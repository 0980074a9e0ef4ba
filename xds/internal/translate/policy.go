package translate

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Action is what translation does with a set field.
type Action int

const (
	// Use means the field is translated into the model.
	Use Action = iota
	// Warn means the field is ignored with a warning: ignoring it cannot
	// send a request somewhere else or let one through that Envoy would stop.
	Warn
	// Reject means the resource is NACKed: ignoring the field would change
	// what happens to traffic.
	Reject
)

// String is the word the README table uses for the action.
func (a Action) String() string {
	return [...]string{"used", "ignored (warning)", "NACKed"}[a]
}

// Rule is one row of the field table. Message is the Envoy message's full
// name without the "envoy." prefix.
type Rule struct {
	Message string
	Field   string
	Action  Action
	Why     string
}

// Rules is the whole table, in the order the README lists it.
var Rules []Rule

var ruleIndex = map[string]map[string]Rule{}

func add(msg string, a Action, why string, fields ...string) {
	for _, f := range fields {
		r := Rule{Message: msg, Field: f, Action: a, Why: why}
		Rules = append(Rules, r)
		m := ruleIndex["envoy."+msg]
		if m == nil {
			m = map[string]Rule{}
			ruleIndex["envoy."+msg] = m
		}
		m[f] = r
	}
}

func use(msg string, fields ...string) { add(msg, Use, "", fields...) }

func warn(msg, why string, fields ...string) { add(msg, Warn, why, fields...) }

func reject(msg, why string, fields ...string) { add(msg, Reject, why, fields...) }

// Envoy message names used in the table.
const (
	mListener   = "config.listener.v3.Listener"
	mChain      = "config.listener.v3.FilterChain"
	mNetFilter  = "config.listener.v3.Filter"
	mLisFilter  = "config.listener.v3.ListenerFilter"
	mAddress    = "config.core.v3.Address"
	mSockAddr   = "config.core.v3.SocketAddress"
	mHCM        = "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	mRds        = "extensions.filters.network.http_connection_manager.v3.Rds"
	mHTTPFilter = "extensions.filters.network.http_connection_manager.v3.HttpFilter"
	mCommonOpts = "config.core.v3.HttpProtocolOptions"
	mRouteCfg   = "config.route.v3.RouteConfiguration"
	mVHost      = "config.route.v3.VirtualHost"
	mRoute      = "config.route.v3.Route"
	mMatch      = "config.route.v3.RouteMatch"
	mHdrMatch   = "config.route.v3.HeaderMatcher"
	mQryMatch   = "config.route.v3.QueryParameterMatcher"
	mStrMatch   = "type.matcher.v3.StringMatcher"
	mRegex      = "type.matcher.v3.RegexMatcher"
	mAction     = "config.route.v3.RouteAction"
	mWeighted   = "config.route.v3.WeightedCluster"
	mCWeight    = "config.route.v3.WeightedCluster.ClusterWeight"
	mRetry      = "config.route.v3.RetryPolicy"
	mBackoff    = "config.route.v3.RetryPolicy.RetryBackOff"
	mHash       = "config.route.v3.RouteAction.HashPolicy"
	mRedirect   = "config.route.v3.RedirectAction"
	mDirect     = "config.route.v3.DirectResponseAction"
	mDataSource = "config.core.v3.DataSource"
	mHdrOpt     = "config.core.v3.HeaderValueOption"
	mHdrValue   = "config.core.v3.HeaderValue"
	mFilterCfg  = "config.route.v3.FilterConfig"
	mCluster    = "config.cluster.v3.Cluster"
	mEDSConfig  = "config.cluster.v3.Cluster.EdsClusterConfig"
	mBreakers   = "config.cluster.v3.CircuitBreakers"
	mThresholds = "config.cluster.v3.CircuitBreakers.Thresholds"
	mBudget     = "config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget"
	mOutlier    = "config.cluster.v3.OutlierDetection"
	mCommonLb   = "config.cluster.v3.Cluster.CommonLbConfig"
	mHC         = "config.core.v3.HealthCheck"
	mHTTPHC     = "config.core.v3.HealthCheck.HttpHealthCheck"
	mCLA        = "config.endpoint.v3.ClusterLoadAssignment"
	mLocality   = "config.endpoint.v3.LocalityLbEndpoints"
	mLbEndpoint = "config.endpoint.v3.LbEndpoint"
	mEndpoint   = "config.endpoint.v3.Endpoint"
	mWasm       = "extensions.filters.http.wasm.v3.Wasm"
	mPlugin     = "extensions.wasm.v3.PluginConfig"
	mVM         = "extensions.wasm.v3.VmConfig"
	mAsyncData  = "config.core.v3.AsyncDataSource"
)

const (
	infoOnly   = "informational: names, stats and metadata do not change routing"
	noTLS      = "meshd does not terminate or originate TLS from xDS config; plaintext instead of TLS would change behaviour"
	notModel   = "meshd's model has no equivalent; ignoring it would change what happens to a request"
	tuning     = "a tuning knob: meshd uses its own defaults"
	fewerRetry = "meshd then retries less, never more"
	obs        = "observability only: meshd has its own access log, metrics and tracing"
)

func init() {
	// Listeners.
	use(mListener, "name", "address", "filter_chains", "default_filter_chain", "bind_to_port", "listener_filters")
	warn(mListener, infoOnly, "metadata", "stat_prefix", "traffic_direction")
	warn(mListener, tuning, "per_connection_buffer_limit_bytes", "socket_options", "tcp_backlog_size", "drain_type",
		"connection_balance_config", "continue_on_listener_filters_timeout", "listener_filters_timeout", "tcp_fast_open_queue_length",
		"max_connections_to_accept_per_socket_event", "enable_reuse_port", "freebind", "transparent", "ignore_global_conn_limit")
	reject(mListener, "meshd binds exactly the address given", "use_original_dst", "additional_addresses", "internal_listener", "udp_listener_config", "api_listener")
	use(mLisFilter, "name", "typed_config")
	use(mChain, "filters")
	warn(mChain, infoOnly, "name", "metadata")
	reject(mChain, noTLS, "transport_socket")
	reject(mChain, "meshd has one filter chain per listener and cannot select by connection properties", "filter_chain_match")
	use(mNetFilter, "name", "typed_config")
	use(mAddress, "socket_address")
	reject(mAddress, "meshd listens and connects on TCP host:port only", "pipe", "envoy_internal_address")
	use(mSockAddr, "address", "port_value")
	warn(mSockAddr, "meshd binds dual-stack as Go does", "ipv4_compat")
	reject(mSockAddr, "meshd resolves with the system resolver on TCP", "named_port", "resolver_name", "protocol")

	// HTTP connection manager.
	use(mHCM, "stat_prefix", "codec_type", "route_config", "rds", "http_filters", "common_http_protocol_options", "max_request_headers_kb")
	warn(mHCM, obs, "access_log", "tracing", "generate_request_id", "preserve_external_request_id", "always_set_request_id_in_response", "access_log_options")
	warn(mHCM, tuning, "stream_idle_timeout", "request_timeout", "request_headers_timeout", "drain_timeout", "delayed_close_timeout",
		"http_protocol_options", "http2_protocol_options", "stream_error_on_invalid_http_message")
	warn(mHCM, "meshd normalizes paths and sets forwarding headers its own way", "use_remote_address", "xff_num_trusted_hops",
		"skip_xff_append", "via", "server_name", "server_header_transformation", "normalize_path", "merge_slashes",
		"path_with_escaped_slashes_action", "internal_address_config", "forward_client_cert_details", "set_current_client_cert_details",
		"strip_matching_host_port", "strip_any_host_port", "add_user_agent")
	warn(mHCM, "WebSocket and CONNECT upgrades are not proxied by meshd; plain requests are unaffected", "upgrade_configs")
	reject(mHCM, notModel, "scoped_routes", "local_reply_config", "original_ip_detection_extensions", "early_header_mutation_extensions", "request_id_extension")
	use(mRds, "route_config_name", "config_source")
	use(mHTTPFilter, "name", "typed_config", "is_optional")
	reject(mHTTPFilter, "a filter off by default and on per route is not in meshd's model", "disabled")
	reject(mHTTPFilter, "filter config from ECDS is not supported", "config_discovery")
	use(mCommonOpts, "idle_timeout")
	warn(mCommonOpts, tuning, "max_connection_duration", "max_headers_count", "max_stream_duration", "headers_with_underscores_action", "max_requests_per_connection", "max_response_headers_kb")

	// Wasm filter.
	use(mWasm, "config")
	use(mPlugin, "name", "root_id", "vm_config", "configuration", "fail_open", "failure_policy")
	warn(mPlugin, "meshd's Wasm host owns its VM pool", "capability_restriction_config", "allow_on_headers_stop_iteration", "reload_config")
	use(mVM, "code", "runtime", "vm_id")
	warn(mVM, "meshd runs every module on wazero", "allow_precompiled", "nack_on_code_cache_miss", "configuration", "environment_variables")
	use(mAsyncData, "local")
	reject(mAsyncData, "meshd loads Wasm modules from local files only", "remote")
	use(mDataSource, "filename", "inline_string", "inline_bytes")
	reject(mDataSource, notModel, "environment_variable", "watched_directory")

	// Route configurations.
	use(mRouteCfg, "name", "virtual_hosts", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove")
	warn(mRouteCfg, infoOnly, "validate_clusters", "most_specific_header_mutations_wins", "max_direct_response_body_size_bytes", "metadata", "ignore_port_in_host_matching", "ignore_path_parameters_in_path_matching")
	reject(mRouteCfg, notModel, "vhds", "internal_only_headers", "cluster_specifier_plugins", "typed_per_filter_config", "request_mirror_policies")
	use(mVHost, "name", "domains", "routes", "retry_policy", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config")
	warn(mVHost, obs, "virtual_clusters", "include_request_attempt_count", "include_attempt_count_in_response", "metadata")
	reject(mVHost, notModel, "require_tls", "rate_limits", "cors", "hedge_policy", "retry_policy_typed_config", "request_mirror_policies", "matcher")
	use(mRoute, "name", "match", "route", "redirect", "direct_response", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config")
	warn(mRoute, infoOnly, "metadata", "decorator", "stat_prefix", "tracing")
	warn(mRoute, tuning, "per_request_buffer_limit_bytes", "request_body_buffer_limit")
	reject(mRoute, notModel, "filter_action", "non_forwarding_action")
	use(mMatch, "prefix", "path", "safe_regex", "headers", "query_parameters", "case_sensitive")
	reject(mMatch, notModel, "connect_matcher", "path_separated_prefix", "path_match_policy", "runtime_fraction", "grpc", "tls_context", "dynamic_metadata", "filter_state", "cookies")
	use(mRegex, "regex")
	use(mHdrMatch, "name", "exact_match", "string_match", "present_match")
	reject(mHdrMatch, "meshd matches headers by exact value or presence only", "invert_match", "safe_regex_match", "range_match", "prefix_match", "suffix_match", "contains_match", "treat_missing_header_as_empty")
	use(mQryMatch, "name", "string_match")
	reject(mQryMatch, "meshd matches query parameters by exact value only", "present_match")
	use(mStrMatch, "exact")
	reject(mStrMatch, "meshd matches by exact value only", "prefix", "suffix", "safe_regex", "contains", "ignore_case", "custom")
	use(mAction, "cluster", "weighted_clusters", "prefix_rewrite", "host_rewrite_literal", "timeout", "idle_timeout", "retry_policy", "hash_policy")
	warn(mAction, tuning, "max_stream_duration", "max_grpc_timeout", "grpc_timeout_offset", "priority", "include_vh_rate_limits", "cluster_not_found_response_code")
	warn(mAction, "WebSocket and CONNECT upgrades are not proxied by meshd; plain requests are unaffected", "upgrade_configs")
	warn(mAction, fewerRetry, "hedge_policy", "internal_redirect_policy", "max_internal_redirects")
	reject(mAction, notModel, "cluster_header", "cluster_specifier_plugin", "inline_cluster_specifier_plugin", "regex_rewrite", "path_rewrite_policy",
		"auto_host_rewrite", "host_rewrite_header", "host_rewrite_path_regex", "append_x_forwarded_host", "request_mirror_policies", "rate_limits", "cors", "metadata_match", "retry_policy_typed_config", "early_data_policy")
	use(mWeighted, "clusters", "total_weight")
	warn(mWeighted, "meshd splits by the weights given", "runtime_key_prefix")
	reject(mWeighted, notModel, "header_name", "use_hash_policy")
	use(mCWeight, "name", "weight")
	reject(mCWeight, notModel, "cluster_header", "metadata_match", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config", "host_rewrite_literal")
	use(mRetry, "retry_on", "num_retries", "per_try_timeout", "retry_back_off", "retriable_status_codes")
	warn(mRetry, fewerRetry, "retry_host_predicate", "host_selection_retry_max_attempts", "retry_priority", "retriable_headers", "retriable_request_headers",
		"per_try_idle_timeout", "rate_limited_retry_back_off", "retry_options_predicates")
	use(mBackoff, "base_interval", "max_interval")
	use(mHash, "header", "cookie", "connection_properties", "terminal")
	reject(mHash, notModel, "query_parameter", "filter_state")
	use(mRedirect, "https_redirect", "scheme_redirect", "host_redirect", "path_redirect", "prefix_rewrite", "response_code")
	reject(mRedirect, notModel, "port_redirect", "regex_rewrite", "strip_query", "path_rewrite")
	use(mDirect, "status", "body")
	warn(mDirect, "meshd sets no extra headers on direct responses", "body_format")
	use(mHdrOpt, "header", "append_action", "append", "keep_empty_value")
	use(mHdrValue, "key", "value")
	reject(mHdrValue, notModel, "raw_value")
	use(mFilterCfg, "disabled", "config", "is_optional")

	// Clusters.
	use(mCluster, "name", "type", "eds_cluster_config", "connect_timeout", "lb_policy", "load_assignment", "circuit_breakers", "outlier_detection", "health_checks", "typed_extension_protocol_options", "common_lb_config")
	warn(mCluster, infoOnly, "alt_stat_name", "metadata", "track_cluster_stats", "track_timeout_budgets")
	warn(mCluster, tuning, "per_connection_buffer_limit_bytes", "dns_lookup_family", "dns_refresh_rate", "dns_failure_refresh_rate", "respect_dns_ttl",
		"dns_resolution_config", "typed_dns_resolver_config", "wait_for_warm_on_init", "cleanup_interval", "upstream_connection_options",
		"close_connections_on_host_health_failure", "ignore_health_on_host_removal", "ring_hash_lb_config", "maglev_lb_config",
		"least_request_lb_config", "round_robin_lb_config", "dns_jitter", "connection_pool_per_downstream_connection", "preconnect_policy", "upstream_bind_config")
	reject(mCluster, noTLS, "transport_socket", "transport_socket_matches")
	reject(mCluster, "meshd speaks HTTP/1.1 to upstreams", "http2_protocol_options", "upstream_http_protocol_options", "common_http_protocol_options", "http_protocol_options", "protocol_selection")
	reject(mCluster, notModel, "cluster_type", "lb_subset_config", "load_balancing_policy", "original_dst_lb_config", "filters", "upstream_config", "lrs_server", "max_requests_per_connection")
	use(mCommonLb, "healthy_panic_threshold")
	warn(mCommonLb, tuning, "zone_aware_lb_config", "locality_weighted_lb_config", "update_merge_window", "ignore_new_hosts_until_first_hc",
		"close_connections_on_host_set_change", "consistent_hashing_lb_config", "override_host_status")
	use(mEDSConfig, "service_name", "eds_config")
	use(mBreakers, "thresholds")
	warn(mBreakers, tuning, "per_host_thresholds")
	use(mThresholds, "priority", "max_connections", "max_pending_requests", "max_requests", "max_retries", "retry_budget")
	warn(mThresholds, tuning, "track_remaining", "max_connection_pools")
	use(mBudget, "budget_percent", "min_retry_concurrency")
	use(mOutlier, "consecutive_5xx", "consecutive_gateway_failure", "interval", "base_ejection_time", "max_ejection_percent", "enforcing_consecutive_5xx", "enforcing_consecutive_gateway_failure")
	warn(mOutlier, "meshd ejects on consecutive errors only; ejecting less is safe", "success_rate_minimum_hosts", "success_rate_request_volume",
		"success_rate_stdev_factor", "enforcing_success_rate", "failure_percentage_threshold", "enforcing_failure_percentage",
		"enforcing_failure_percentage_local_origin", "failure_percentage_minimum_hosts", "failure_percentage_request_volume",
		"split_external_local_origin_errors", "consecutive_local_origin_failure", "enforcing_consecutive_local_origin_failure",
		"enforcing_local_origin_success_rate", "max_ejection_time", "max_ejection_time_jitter", "successful_active_health_check_uneject_host",
		"monitors", "always_eject_one_host", "detect_degraded_hosts")
	use(mHC, "timeout", "interval", "unhealthy_threshold", "healthy_threshold", "http_health_check")
	warn(mHC, tuning, "interval_jitter", "interval_jitter_percent", "initial_jitter", "no_traffic_interval", "no_traffic_healthy_interval",
		"unhealthy_interval", "unhealthy_edge_interval", "healthy_edge_interval", "reuse_connection", "event_log_path", "event_logger", "always_log_health_check_failures",
		"always_log_health_check_success", "alt_port", "event_service")
	reject(mHC, "meshd runs HTTP health checks only; ignoring another kind would keep failing endpoints in rotation", "tcp_health_check", "grpc_health_check", "custom_health_check", "transport_socket_match_criteria", "tls_options")
	use(mHTTPHC, "path", "host")
	warn(mHTTPHC, tuning, "request_headers_to_add", "request_headers_to_remove", "codec_client_type", "method")
	reject(mHTTPHC, "meshd counts a 2xx answer as healthy", "expected_statuses", "retriable_statuses", "send", "receive", "service_name_matcher", "response_buffer_size")

	// Endpoints.
	use(mCLA, "cluster_name", "endpoints")
	warn(mCLA, tuning, "policy", "named_endpoints")
	use(mLocality, "locality", "lb_endpoints", "load_balancing_weight", "priority")
	warn(mLocality, "locality-weighted balancing is not in meshd's model", "proximity", "metadata", "leds_cluster_locality_config")
	use(mLbEndpoint, "endpoint", "health_status", "load_balancing_weight")
	warn(mLbEndpoint, infoOnly, "metadata")
	reject(mLbEndpoint, notModel, "endpoint_name")
	use(mEndpoint, "address")
	warn(mEndpoint, tuning, "hostname", "health_check_config", "additional_addresses")
}

// check applies the field table to m's set fields. Fields used are the
// caller's to translate; ignored fields add a warning; anything else is an
// error naming the field path.
func (t *T) check(path string, m proto.Message) error {
	r := m.ProtoReflect()
	name := string(r.Descriptor().FullName())
	rules := ruleIndex[name]
	var err error
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		f := string(fd.Name())
		rule, ok := rules[f]
		switch {
		case !ok:
			err = fmt.Errorf("%s.%s: meshd does not support this field of %s, and cannot tell whether ignoring it is safe", path, f, strings.TrimPrefix(name, "envoy."))
			return false
		case rule.Action == Reject:
			err = fmt.Errorf("%s.%s is not supported: %s", path, f, rule.Why)
			return false
		case rule.Action == Warn:
			t.warnf("%s.%s ignored (%s)", path, f, rule.Why)
		}
		return true
	})
	return err
}

// Messages lists the messages the table covers, sorted.
func Messages() []string {
	out := make([]string, 0, len(ruleIndex))
	for m := range ruleIndex {
		out = append(out, strings.TrimPrefix(m, "envoy."))
	}
	sort.Strings(out)
	return out
}
