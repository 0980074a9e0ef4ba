package authz

import (
	"fmt"
	"net/netip"
	"strings"
)

// Actions a policy may take. CUSTOM (external authorizers) is not
// supported: a filter does that job in meshd.
const (
	ActionAllow = "ALLOW"
	ActionDeny  = "DENY"
)

// Policy is one authorization policy, written in meshd's YAML under the
// top-level `authorization:` key. The field names follow Istio's
// AuthorizationPolicy in snake_case so that Istio users can read them.
type Policy struct {
	// Name identifies the policy in decisions, audit events and metrics.
	Name string `yaml:"name" json:"name"`
	// Action is ALLOW or DENY.
	Action string `yaml:"action" json:"action"`
	// Routes selects the routes the policy applies to, by route name
	// (exact, or with a leading or trailing * wildcard). Empty selects
	// every route.
	Routes []string `yaml:"routes,omitempty" json:"routes,omitempty"`
	// Rules match requests; any matching rule makes the policy match.
	// A policy without rules never matches (as in Istio), so an ALLOW
	// policy without rules denies everything on its routes; write
	// `rules: [{}]` to match every request.
	Rules []Rule `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// Rule matches a request when all of From, To and every When condition
// match. Inside one field the listed values are alternatives (any may
// match); not_* fields must match none of their values.
type Rule struct {
	// Name labels the rule in decisions; "rules[i]" when empty.
	Name string      `yaml:"name,omitempty" json:"name,omitempty"`
	From *Source     `yaml:"from,omitempty" json:"from,omitempty"`
	To   *Operation  `yaml:"to,omitempty" json:"to,omitempty"`
	When []Condition `yaml:"when,omitempty" json:"when,omitempty"`
}

// Source says who the caller is.
type Source struct {
	// Principals are peer identities from mTLS: SPIFFE IDs with or
	// without the spiffe:// scheme (Istio writes
	// "cluster.local/ns/default/sa/web"), exact or with a * prefix or
	// suffix wildcard, or "*" for any authenticated peer.
	Principals    []string `yaml:"principals,omitempty" json:"principals,omitempty"`
	NotPrincipals []string `yaml:"not_principals,omitempty" json:"not_principals,omitempty"`
	// RequestPrincipals are JWT identities written "ISS/SUB", with
	// wildcards as for principals; "*" means any valid token.
	RequestPrincipals    []string `yaml:"request_principals,omitempty" json:"request_principals,omitempty"`
	NotRequestPrincipals []string `yaml:"not_request_principals,omitempty" json:"not_request_principals,omitempty"`
	// Namespaces match the ns segment of the peer's SPIFFE ID
	// (spiffe://TD/ns/NS/sa/NAME).
	Namespaces    []string `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`
	NotNamespaces []string `yaml:"not_namespaces,omitempty" json:"not_namespaces,omitempty"`
	// IPBlocks are source addresses or CIDRs (10.0.0.0/8, 192.168.1.7).
	IPBlocks    []string `yaml:"ip_blocks,omitempty" json:"ip_blocks,omitempty"`
	NotIPBlocks []string `yaml:"not_ip_blocks,omitempty" json:"not_ip_blocks,omitempty"`
}

// Operation says what the caller asks for.
type Operation struct {
	// Methods are HTTP methods (GET, POST ...); "*" matches any.
	Methods    []string `yaml:"methods,omitempty" json:"methods,omitempty"`
	NotMethods []string `yaml:"not_methods,omitempty" json:"not_methods,omitempty"`
	// Paths are matched as Istio does: exact ("/orders"), prefix
	// ("/orders/*"), suffix ("*/status") or "*". The query string is not
	// part of the path.
	Paths    []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	NotPaths []string `yaml:"not_paths,omitempty" json:"not_paths,omitempty"`
	// Hosts match the request's Host (exact or wildcard, case-insensitive).
	Hosts    []string `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	NotHosts []string `yaml:"not_hosts,omitempty" json:"not_hosts,omitempty"`
}

// Condition is one `when` entry: the attribute named by Key must match
// one of Values (when given) and none of NotValues. Keys:
//
//	request.auth.claims[NAME]     a JWT claim; [a][b] for nested objects
//	request.auth.principal        ISS/SUB of the JWT
//	request.auth.audiences        the aud claim
//	request.auth.presenter        the azp claim
//	request.auth.scopes           the scope (space-separated) and scp claims
//	request.headers[NAME]         a request header
//	source.principal              the mTLS peer's SPIFFE ID
//	source.namespace              the ns segment of that ID
//	source.ip                     the source address (values are CIDRs)
//	request.method, request.path, request.host
//
// A claim holding a list matches when any element matches.
type Condition struct {
	Key       string   `yaml:"key" json:"key"`
	Values    []string `yaml:"values,omitempty" json:"values,omitempty"`
	NotValues []string `yaml:"not_values,omitempty" json:"not_values,omitempty"`
}

// Problem is one thing wrong with a policy: where (Field, e.g.
// "authorization[orders].rules[0].from.ip_blocks[1]"), what, and how to fix it.
type Problem struct {
	Field string `json:"field"`
	Msg   string `json:"message"`
	Hint  string `json:"hint,omitempty"`
}

func (p Problem) String() string {
	s := p.Field + ": " + p.Msg
	if p.Hint != "" {
		s += " (" + p.Hint + ")"
	}
	return s
}

// Problems is the error New and Validate return, so every problem is
// listed at once (the way conf reports config problems).
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Validate checks policies without building an engine. prefix is the
// path of the list in the config ("authorization" when empty).
func Validate(prefix string, policies []Policy) Problems {
	_, ps := compile(prefix, policies)
	return ps
}

var knownKeys = []string{
	"request.auth.claims[NAME]", "request.auth.principal", "request.auth.audiences",
	"request.auth.presenter", "request.auth.scopes", "request.headers[NAME]",
	"source.principal", "source.namespace", "source.ip",
	"request.method", "request.path", "request.host",
}

func checkPattern(field, v string, add func(field, msg, hint string)) {
	if v == "" {
		add(field, "empty value", "write a value, or * for any")
		return
	}
	if n := strings.Count(v, "*"); n > 1 || (n == 1 && v != "*" && !strings.HasPrefix(v, "*") && !strings.HasSuffix(v, "*")) {
		add(field, fmt.Sprintf("%q: a * may only stand at the start or the end", v), `use "prefix*", "*suffix" or "*"`)
	}
}

func checkCIDR(field, v string, add func(field, msg, hint string)) {
	if _, err := parsePrefix(v); err != nil {
		add(field, fmt.Sprintf("%q is not an IP address or CIDR", v), "write it like 10.0.0.0/8 or 192.168.1.7")
	}
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
