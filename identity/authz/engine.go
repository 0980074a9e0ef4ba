package authz

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Request is what a decision looks at. The data plane fills one per
// request from its stream context; nothing in it is retained.
type Request struct {
	// Route is the name of the matched route (the name policies select).
	Route  string
	Method string
	// Path without the query string.
	Path string
	Host string
	// Headers returns a request header by lower-case name ("" when
	// absent). Nil means no headers.
	Headers func(name string) string
	// SourceIP is the downstream address (the TCP peer, or the client
	// address the listener trusts from x-forwarded-for).
	SourceIP netip.Addr
	// Principal is the peer identity proven by mTLS, a SPIFFE ID such as
	// spiffe://example.org/ns/default/sa/web; "" without a client certificate.
	Principal string
	// Claims are the verified JWT claims (as jwt-auth or client/jwtauth
	// produce them); nil without a token.
	Claims map[string]any
}

// Decision is the outcome of Evaluate. Policy and Rule name what decided
// (both empty when no policy applies); Reason is one of the Reason*
// constants, so callers can switch on it and label metrics with it.
type Decision struct {
	Allowed bool
	Policy  string
	Rule    string
	Reason  string
}

// Reasons a Decision gives.
const (
	// ReasonDenied: a DENY policy matched (Policy and Rule say which).
	ReasonDenied = "denied by policy"
	// ReasonAllowed: an ALLOW policy matched (Policy and Rule say which).
	ReasonAllowed = "allowed by policy"
	// ReasonDefaultDeny: ALLOW policies select the route and none matched;
	// Policy names the first of them.
	ReasonDefaultDeny = "no ALLOW policy matched (default deny)"
	// ReasonNoPolicy: no ALLOW policy selects the route.
	ReasonNoPolicy = "no ALLOW policy selects the route"
)

// attribute kinds a check reads.
const (
	attrPrincipal uint8 = iota
	attrNamespace
	attrSourceIP
	attrRequestPrincipal
	attrMethod
	attrPath
	attrHost
	attrClaim
	attrAudiences
	attrPresenter
	attrScopes
	attrHeader
)

// check is one compiled condition: the attribute must match one of the
// patterns (or, when neg, none of them).
type check struct {
	field    string // config path, shown by Explain
	attr     uint8
	neg      bool
	pats     patterns
	prefixes []netip.Prefix
	claim    []string // claim path for attrClaim
	header   string   // lower-case name for attrHeader
}

type crule struct {
	label  string
	checks []check
}

type cpolicy struct {
	name   string
	deny   bool
	routes patterns // nil selects every route
	rules  []crule
}

// Engine evaluates compiled policies. It is immutable and safe for
// concurrent use; build a new one when the config changes.
type Engine struct {
	deny  []*cpolicy
	allow []*cpolicy
	all   []*cpolicy // config order, for Explain
}

// New compiles policies. The error, when the policies are at fault, is
// Problems listing every problem.
func New(policies []Policy) (*Engine, error) {
	e, ps := compile("authorization", policies)
	if len(ps) > 0 {
		return nil, ps
	}
	return e, nil
}

// Empty reports whether the engine holds no policy, so the data plane
// can skip authorization altogether.
func (e *Engine) Empty() bool { return e == nil || len(e.all) == 0 }

// Selects reports whether any policy applies to route.
func (e *Engine) Selects(route string) bool {
	if e == nil {
		return false
	}
	for _, p := range e.all {
		if p.selects(route) {
			return true
		}
	}
	return false
}

func (p *cpolicy) selects(route string) bool {
	return p.routes == nil || p.routes.match(route)
}

// Evaluate decides r. It does not allocate (claims holding numbers are
// the exception: they are formatted to compare).
func (e *Engine) Evaluate(r *Request) Decision {
	if e == nil {
		return Decision{Allowed: true, Reason: ReasonNoPolicy}
	}
	for _, p := range e.deny {
		if !p.selects(r.Route) {
			continue
		}
		for i := range p.rules {
			if ok, _ := p.rules[i].match(r); ok {
				return Decision{Allowed: false, Policy: p.name, Rule: p.rules[i].label, Reason: ReasonDenied}
			}
		}
	}
	var first *cpolicy
	for _, p := range e.allow {
		if !p.selects(r.Route) {
			continue
		}
		if first == nil {
			first = p
		}
		for i := range p.rules {
			if ok, _ := p.rules[i].match(r); ok {
				return Decision{Allowed: true, Policy: p.name, Rule: p.rules[i].label, Reason: ReasonAllowed}
			}
		}
	}
	if first != nil {
		return Decision{Allowed: false, Policy: first.name, Reason: ReasonDefaultDeny}
	}
	return Decision{Allowed: true, Reason: ReasonNoPolicy}
}

// Step is one policy rule as Explain saw it.
type Step struct {
	Policy string `json:"policy"`
	Action string `json:"action"`
	// Rule is the rule's label; empty for a policy that does not select
	// the route or has no rules.
	Rule     string `json:"rule,omitempty"`
	Selected bool   `json:"selected"`
	Matched  bool   `json:"matched"`
	// Failed names the first condition that did not hold
	// (e.g. "rules[0].to.methods").
	Failed string `json:"failed,omitempty"`
}

// Explanation is a Decision with every step that led to it, for
// `meshctl authz check` and debugging; Evaluate is the hot-path version.
type Explanation struct {
	Decision Decision `json:"decision"`
	Steps    []Step   `json:"steps"`
}

// Explain evaluates r like Evaluate and records, in evaluation order (DENY
// policies, then ALLOW), which rules matched and where the others failed.
func (e *Engine) Explain(r *Request) Explanation {
	x := Explanation{Decision: e.Evaluate(r)}
	if e == nil {
		return x
	}
	for _, list := range [][]*cpolicy{e.deny, e.allow} {
		for _, p := range list {
			action := ActionAllow
			if p.deny {
				action = ActionDeny
			}
			if !p.selects(r.Route) {
				x.Steps = append(x.Steps, Step{Policy: p.name, Action: action, Failed: "routes"})
				continue
			}
			if len(p.rules) == 0 {
				x.Steps = append(x.Steps, Step{Policy: p.name, Action: action, Selected: true, Failed: "policy has no rules"})
			}
			for i := range p.rules {
				ok, failed := p.rules[i].match(r)
				x.Steps = append(x.Steps, Step{Policy: p.name, Action: action, Rule: p.rules[i].label, Selected: true, Matched: ok, Failed: failed})
			}
		}
	}
	return x
}

func (r *crule) match(req *Request) (bool, string) {
	for i := range r.checks {
		c := &r.checks[i]
		if c.eval(req) == c.neg {
			return false, c.field
		}
	}
	return true, ""
}

// eval reports whether the request's attribute matches one of the
// patterns (a missing attribute matches nothing).
func (c *check) eval(r *Request) bool {
	switch c.attr {
	case attrPrincipal:
		if r.Principal == "" {
			return false
		}
		return c.pats.match(trimSPIFFE(r.Principal))
	case attrNamespace:
		ns := namespaceOf(r.Principal)
		return ns != "" && c.pats.match(ns)
	case attrSourceIP:
		return inPrefixes(c.prefixes, r.SourceIP)
	case attrRequestPrincipal:
		iss, _ := r.Claims["iss"].(string)
		sub, _ := r.Claims["sub"].(string)
		if iss == "" && sub == "" {
			return false
		}
		for i := range c.pats {
			if c.pats[i].matchJoined(iss, sub) {
				return true
			}
		}
		return false
	case attrMethod:
		return r.Method != "" && c.pats.match(r.Method)
	case attrPath:
		return r.Path != "" && c.pats.match(r.Path)
	case attrHost:
		return r.Host != "" && c.pats.match(r.Host)
	case attrClaim:
		v, ok := lookupClaim(r.Claims, c.claim)
		return ok && matchValue(v, c.pats, false)
	case attrAudiences:
		v, ok := r.Claims["aud"]
		return ok && matchValue(v, c.pats, false)
	case attrPresenter:
		v, ok := r.Claims["azp"]
		return ok && matchValue(v, c.pats, false)
	case attrScopes:
		v1, ok1 := r.Claims["scope"]
		v2, ok2 := r.Claims["scp"]
		return (ok1 && matchValue(v1, c.pats, true)) || (ok2 && matchValue(v2, c.pats, true))
	case attrHeader:
		if r.Headers == nil {
			return false
		}
		v := r.Headers(c.header)
		return v != "" && c.pats.match(v)
	}
	return false
}

func lookupClaim(claims map[string]any, path []string) (any, bool) {
	var cur any = claims
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// matchValue matches a claim value: a string (split on spaces when
// words, for OAuth2 scope strings), a list (any element), a number or a
// boolean (in their JSON spelling).
func matchValue(v any, ps patterns, words bool) bool {
	switch x := v.(type) {
	case string:
		if !words {
			return ps.match(x)
		}
		for x != "" {
			i := strings.IndexByte(x, ' ')
			w := x
			if i >= 0 {
				w, x = x[:i], x[i+1:]
			} else {
				x = ""
			}
			if w != "" && ps.match(w) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range x {
			if matchValue(e, ps, words) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range x {
			if matchValue(e, ps, words) {
				return true
			}
		}
		return false
	case bool:
		if x {
			return ps.match("true")
		}
		return ps.match("false")
	case float64:
		return ps.match(strconv.FormatFloat(x, 'f', -1, 64))
	case json.Number:
		return ps.match(string(x))
	case int:
		return ps.match(strconv.Itoa(x))
	case int64:
		return ps.match(strconv.FormatInt(x, 10))
	}
	return false
}

// compile turns policies into an engine, collecting every problem.
func compile(prefix string, policies []Policy) (*Engine, Problems) {
	if prefix == "" {
		prefix = "authorization"
	}
	var ps Problems
	add := func(field, msg, hint string) { ps = append(ps, Problem{Field: field, Msg: msg, Hint: hint}) }
	e := &Engine{}
	seen := map[string]bool{}
	for i, p := range policies {
		at := fmt.Sprintf("%s[%d]", prefix, i)
		if p.Name != "" {
			at = fmt.Sprintf("%s[%s]", prefix, p.Name)
		}
		switch {
		case p.Name == "":
			add(at+".name", "a policy needs a name", "decisions and audit events name the policy that made them")
		case seen[p.Name]:
			add(at+".name", fmt.Sprintf("policy name %q is used twice", p.Name), "give every policy its own name")
		}
		seen[p.Name] = true
		cp := &cpolicy{name: p.Name}
		switch strings.ToUpper(p.Action) {
		case ActionAllow:
		case ActionDeny:
			cp.deny = true
		case "CUSTOM", "AUDIT":
			add(at+".action", fmt.Sprintf("action %s is not supported", p.Action), "use ALLOW or DENY; every denial is audited already")
		case "":
			add(at+".action", "missing action", "write action: ALLOW or action: DENY")
		default:
			add(at+".action", fmt.Sprintf("unknown action %q", p.Action), "use ALLOW or DENY")
		}
		for j, r := range p.Routes {
			checkPattern(fmt.Sprintf("%s.routes[%d]", at, j), r, add)
			cp.routes = append(cp.routes, compilePattern(r, false))
		}
		for j, r := range p.Rules {
			label := r.Name
			if label == "" {
				label = fmt.Sprintf("rules[%d]", j)
			}
			cr := crule{label: label}
			rat := fmt.Sprintf("%s.rules[%d]", at, j)
			short := fmt.Sprintf("rules[%d]", j)
			cb := &ruleBuilder{at: rat, short: short, add: add, r: &cr}
			if f := r.From; f != nil {
				cb.strings("from.principals", attrPrincipal, false, f.Principals, trimSPIFFE, false)
				cb.strings("from.not_principals", attrPrincipal, true, f.NotPrincipals, trimSPIFFE, false)
				cb.strings("from.request_principals", attrRequestPrincipal, false, f.RequestPrincipals, nil, false)
				cb.strings("from.not_request_principals", attrRequestPrincipal, true, f.NotRequestPrincipals, nil, false)
				cb.strings("from.namespaces", attrNamespace, false, f.Namespaces, nil, false)
				cb.strings("from.not_namespaces", attrNamespace, true, f.NotNamespaces, nil, false)
				cb.cidrs("from.ip_blocks", false, f.IPBlocks)
				cb.cidrs("from.not_ip_blocks", true, f.NotIPBlocks)
			}
			if t := r.To; t != nil {
				cb.strings("to.methods", attrMethod, false, t.Methods, strings.ToUpper, false)
				cb.strings("to.not_methods", attrMethod, true, t.NotMethods, strings.ToUpper, false)
				cb.paths("to.paths", false, t.Paths)
				cb.paths("to.not_paths", true, t.NotPaths)
				cb.strings("to.hosts", attrHost, false, t.Hosts, nil, true)
				cb.strings("to.not_hosts", attrHost, true, t.NotHosts, nil, true)
			}
			for k, w := range r.When {
				cb.condition(k, w)
			}
			cp.rules = append(cp.rules, cr)
		}
		e.all = append(e.all, cp)
		if cp.deny {
			e.deny = append(e.deny, cp)
		} else {
			e.allow = append(e.allow, cp)
		}
	}
	return e, ps
}

type ruleBuilder struct {
	at, short string
	add       func(field, msg, hint string)
	r         *crule
}

func (b *ruleBuilder) strings(field string, attr uint8, neg bool, vals []string, norm func(string) string, fold bool) {
	if vals == nil {
		return
	}
	if len(vals) == 0 {
		b.add(b.at+"."+field, "empty list", "leave the field out to match anything")
		return
	}
	c := check{field: b.short + "." + field, attr: attr, neg: neg}
	for i, v := range vals {
		checkPattern(fmt.Sprintf("%s.%s[%d]", b.at, field, i), v, b.add)
		if norm != nil {
			v = norm(v)
		}
		c.pats = append(c.pats, compilePattern(v, fold))
	}
	b.r.checks = append(b.r.checks, c)
}

func (b *ruleBuilder) paths(field string, neg bool, vals []string) {
	for i, v := range vals {
		if v != "*" && !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "*") {
			b.add(fmt.Sprintf("%s.%s[%d]", b.at, field, i), fmt.Sprintf("path %q does not start with /", v), `write "/orders", "/orders/*", "*/status" or "*"`)
		}
		if strings.ContainsAny(v, "?{}") {
			b.add(fmt.Sprintf("%s.%s[%d]", b.at, field, i), fmt.Sprintf("path %q holds ?, { or }", v), "paths match without the query string; {*} templates are not supported, use a prefix/suffix *")
		}
	}
	b.strings(field, attrPath, neg, vals, nil, false)
}

func (b *ruleBuilder) cidrs(field string, neg bool, vals []string) {
	if vals == nil {
		return
	}
	if len(vals) == 0 {
		b.add(b.at+"."+field, "empty list", "leave the field out to match anything")
		return
	}
	c := check{field: b.short + "." + field, attr: attrSourceIP, neg: neg}
	for i, v := range vals {
		p, err := parsePrefix(v)
		if err != nil {
			checkCIDR(fmt.Sprintf("%s.%s[%d]", b.at, field, i), v, b.add)
			continue
		}
		c.prefixes = append(c.prefixes, p)
	}
	b.r.checks = append(b.r.checks, c)
}

func (b *ruleBuilder) condition(k int, w Condition) {
	at := fmt.Sprintf("%s.when[%d]", b.at, k)
	short := fmt.Sprintf("%s.when[%d](%s)", b.short, k, w.Key)
	if len(w.Values) == 0 && len(w.NotValues) == 0 {
		b.add(at, fmt.Sprintf("condition on %q has neither values nor not_values", w.Key), "list the values to match")
		return
	}
	base := check{}
	key := strings.TrimSpace(w.Key)
	switch {
	case strings.HasPrefix(key, "request.auth.claims["):
		path, ok := bracketPath(key[len("request.auth.claims"):])
		if !ok {
			b.add(at+".key", fmt.Sprintf("malformed claim key %q", key), "write request.auth.claims[NAME] or request.auth.claims[a][b]")
			return
		}
		base.attr, base.claim = attrClaim, path
	case strings.HasPrefix(key, "request.headers["):
		path, ok := bracketPath(key[len("request.headers"):])
		if !ok || len(path) != 1 {
			b.add(at+".key", fmt.Sprintf("malformed header key %q", key), "write request.headers[x-name]")
			return
		}
		base.attr, base.header = attrHeader, strings.ToLower(path[0])
	case key == "request.auth.principal":
		base.attr = attrRequestPrincipal
	case key == "request.auth.audiences":
		base.attr = attrAudiences
	case key == "request.auth.presenter":
		base.attr = attrPresenter
	case key == "request.auth.scopes":
		base.attr = attrScopes
	case key == "source.principal":
		base.attr = attrPrincipal
	case key == "source.namespace":
		base.attr = attrNamespace
	case key == "source.ip":
		base.attr = attrSourceIP
	case key == "request.method":
		base.attr = attrMethod
	case key == "request.path":
		base.attr = attrPath
	case key == "request.host":
		base.attr = attrHost
	default:
		b.add(at+".key", fmt.Sprintf("unknown key %q", key), "known keys: "+strings.Join(knownKeys, ", "))
		return
	}
	for _, neg := range []bool{false, true} {
		vals, name := w.Values, "values"
		if neg {
			vals, name = w.NotValues, "not_values"
		}
		if len(vals) == 0 {
			continue
		}
		c := base
		c.neg, c.field = neg, short+"."+name
		for i, v := range vals {
			f := fmt.Sprintf("%s.%s[%d]", at, name, i)
			if c.attr == attrSourceIP {
				p, err := parsePrefix(v)
				if err != nil {
					checkCIDR(f, v, b.add)
					continue
				}
				c.prefixes = append(c.prefixes, p)
				continue
			}
			checkPattern(f, v, b.add)
			switch c.attr {
			case attrPrincipal:
				v = trimSPIFFE(v)
			case attrMethod:
				v = strings.ToUpper(v)
			}
			c.pats = append(c.pats, compilePattern(v, c.attr == attrHost))
		}
		b.r.checks = append(b.r.checks, c)
	}
}

// bracketPath parses "[a][b]" into [a b].
func bracketPath(s string) ([]string, bool) {
	var out []string
	for s != "" {
		if s[0] != '[' {
			return nil, false
		}
		end := strings.IndexByte(s, ']')
		if end <= 1 {
			return nil, false
		}
		out = append(out, s[1:end])
		s = s[end+1:]
	}
	return out, len(out) > 0
}
