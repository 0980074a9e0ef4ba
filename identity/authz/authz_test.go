package authz

import (
	"net/netip"
	"strings"
	"testing"
)

func policies() []Policy {
	return []Policy{
		{Name: "block-bad-ips", Action: "DENY", Rules: []Rule{{From: &Source{IPBlocks: []string{"203.0.113.0/24"}}}}},
		{Name: "no-admin-from-outside", Action: "DENY", Routes: []string{"orders"}, Rules: []Rule{{
			Name: "admin-paths", From: &Source{NotNamespaces: []string{"ops"}}, To: &Operation{Paths: []string{"/orders/admin/*"}},
		}}},
		{Name: "orders-read", Action: "ALLOW", Routes: []string{"orders"}, Rules: []Rule{
			{Name: "web-reads", From: &Source{Principals: []string{"cluster.local/ns/shop/sa/web"}}, To: &Operation{Methods: []string{"get", "HEAD"}, Paths: []string{"/orders", "/orders/*"}}},
			{Name: "ops-all", From: &Source{Principals: []string{"spiffe://cluster.local/ns/ops/*"}}},
			{Name: "token-writers", To: &Operation{Methods: []string{"POST"}}, When: []Condition{
				{Key: "request.auth.claims[iss]", Values: []string{"https://issuer.example"}},
				{Key: "request.auth.scopes", Values: []string{"orders:write"}},
				{Key: "request.auth.claims[groups]", NotValues: []string{"banned*"}},
			}},
			{Name: "nested", To: &Operation{Methods: []string{"PUT"}}, When: []Condition{
				{Key: "request.auth.claims[realm_access][roles]", Values: []string{"admin"}},
				{Key: "request.headers[X-Tenant]", Values: []string{"acme-*"}},
			}},
			{Name: "health", To: &Operation{Paths: []string{"*/healthz"}}, From: &Source{IPBlocks: []string{"10.0.0.0/8", "::1"}}},
			{Name: "jwt-principal", To: &Operation{Methods: []string{"PATCH"}}, From: &Source{RequestPrincipals: []string{"https://issuer.example/svc-*"}}},
			{Name: "aud", To: &Operation{Methods: []string{"OPTIONS"}}, When: []Condition{{Key: "request.auth.audiences", Values: []string{"orders"}}}},
		}},
		{Name: "payments-nobody", Action: "ALLOW", Routes: []string{"payments*"}},
		{Name: "public-anything", Action: "ALLOW", Routes: []string{"*-public"}, Rules: []Rule{{}}},
	}
}

func TestEvaluate(t *testing.T) {
	e, err := New(policies())
	if err != nil {
		t.Fatal(err)
	}
	web := "spiffe://cluster.local/ns/shop/sa/web"
	hdr := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		req     Request
		allowed bool
		policy  string
		rule    string
		reason  string
	}{
		{"web may GET /orders", Request{Route: "orders", Method: "GET", Path: "/orders", Principal: web}, true, "orders-read", "web-reads", ReasonAllowed},
		{"web may GET /orders/7", Request{Route: "orders", Method: "GET", Path: "/orders/7", Principal: web}, true, "orders-read", "web-reads", ReasonAllowed},
		{"web may not DELETE /orders", Request{Route: "orders", Method: "DELETE", Path: "/orders", Principal: web}, false, "orders-read", "", ReasonDefaultDeny},
		{"web may not GET /ordersX", Request{Route: "orders", Method: "GET", Path: "/ordersX", Principal: web}, false, "orders-read", "", ReasonDefaultDeny},
		{"other sa default-denied", Request{Route: "orders", Method: "GET", Path: "/orders", Principal: "spiffe://cluster.local/ns/shop/sa/cart"}, false, "orders-read", "", ReasonDefaultDeny},
		{"no principal default-denied", Request{Route: "orders", Method: "GET", Path: "/orders"}, false, "orders-read", "", ReasonDefaultDeny},
		{"ops prefix principal", Request{Route: "orders", Method: "DELETE", Path: "/orders", Principal: "spiffe://cluster.local/ns/ops/sa/admin"}, true, "orders-read", "ops-all", ReasonAllowed},
		{"deny before allow: admin path from shop", Request{Route: "orders", Method: "GET", Path: "/orders/admin/x", Principal: web}, false, "no-admin-from-outside", "admin-paths", ReasonDenied},
		{"admin path from ops passes the deny", Request{Route: "orders", Method: "GET", Path: "/orders/admin/x", Principal: "spiffe://cluster.local/ns/ops/sa/admin"}, true, "orders-read", "ops-all", ReasonAllowed},
		{"deny by ip on every route", Request{Route: "anything", Method: "GET", Path: "/", SourceIP: netip.MustParseAddr("203.0.113.9")}, false, "block-bad-ips", "rules[0]", ReasonDenied},
		{"ipv4-mapped ipv6 is denied too", Request{Route: "anything", Method: "GET", Path: "/", SourceIP: netip.MustParseAddr("::ffff:203.0.113.9")}, false, "block-bad-ips", "rules[0]", ReasonDenied},
		{"no policy selects route", Request{Route: "catalog", Method: "GET", Path: "/x", SourceIP: netip.MustParseAddr("198.51.100.1")}, true, "", "", ReasonNoPolicy},
		{"policy without rules denies everything", Request{Route: "payments-v2", Method: "GET", Path: "/", Principal: web}, false, "payments-nobody", "", ReasonDefaultDeny},
		{"claims and scope string", Request{Route: "orders", Method: "POST", Path: "/orders", Claims: map[string]any{"iss": "https://issuer.example", "scope": "orders:read orders:write"}}, true, "orders-read", "token-writers", ReasonAllowed},
		{"scp list", Request{Route: "orders", Method: "POST", Path: "/orders", Claims: map[string]any{"iss": "https://issuer.example", "scp": []any{"orders:write"}}}, true, "orders-read", "token-writers", ReasonAllowed},
		{"missing scope", Request{Route: "orders", Method: "POST", Path: "/orders", Claims: map[string]any{"iss": "https://issuer.example", "scope": "orders:read"}}, false, "orders-read", "", ReasonDefaultDeny},
		{"wrong issuer", Request{Route: "orders", Method: "POST", Path: "/orders", Claims: map[string]any{"iss": "https://evil.example", "scope": "orders:write"}}, false, "orders-read", "", ReasonDefaultDeny},
		{"not_values on claim list", Request{Route: "orders", Method: "POST", Path: "/orders", Claims: map[string]any{"iss": "https://issuer.example", "scope": "orders:write", "groups": []any{"staff", "banned-2024"}}}, false, "orders-read", "", ReasonDefaultDeny},
		{"nested claim and header", Request{Route: "orders", Method: "PUT", Path: "/orders/1", Headers: hdr(map[string]string{"x-tenant": "acme-eu"}), Claims: map[string]any{"realm_access": map[string]any{"roles": []any{"user", "admin"}}}}, true, "orders-read", "nested", ReasonAllowed},
		{"header mismatch", Request{Route: "orders", Method: "PUT", Path: "/orders/1", Headers: hdr(map[string]string{"x-tenant": "other"}), Claims: map[string]any{"realm_access": map[string]any{"roles": []any{"admin"}}}}, false, "orders-read", "", ReasonDefaultDeny},
		{"suffix path and ipv6 host", Request{Route: "orders", Method: "GET", Path: "/orders/healthz", SourceIP: netip.MustParseAddr("::1")}, true, "orders-read", "health", ReasonAllowed},
		{"suffix path from cidr", Request{Route: "orders", Method: "GET", Path: "/x/healthz", SourceIP: netip.MustParseAddr("10.2.3.4")}, true, "orders-read", "health", ReasonAllowed},
		{"suffix path from outside", Request{Route: "orders", Method: "GET", Path: "/x/healthz", SourceIP: netip.MustParseAddr("11.2.3.4")}, false, "orders-read", "", ReasonDefaultDeny},
		{"request principal iss/sub", Request{Route: "orders", Method: "PATCH", Path: "/orders/1", Claims: map[string]any{"iss": "https://issuer.example", "sub": "svc-billing"}}, true, "orders-read", "jwt-principal", ReasonAllowed},
		{"request principal other sub", Request{Route: "orders", Method: "PATCH", Path: "/orders/1", Claims: map[string]any{"iss": "https://issuer.example", "sub": "user-1"}}, false, "orders-read", "", ReasonDefaultDeny},
		{"empty rule matches everything", Request{Route: "docs-public", Method: "DELETE", Path: "/x"}, true, "public-anything", "rules[0]", ReasonAllowed},
		{"audience list", Request{Route: "orders", Method: "OPTIONS", Path: "/orders", Claims: map[string]any{"aud": []string{"billing", "orders"}}}, true, "orders-read", "aud", ReasonAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Evaluate(&tt.req)
			if d.Allowed != tt.allowed || d.Policy != tt.policy || d.Rule != tt.rule || d.Reason != tt.reason {
				t.Errorf("got %+v, want allowed=%v policy=%q rule=%q reason=%q", d, tt.allowed, tt.policy, tt.rule, tt.reason)
			}
		})
	}
}

func TestNilAndEmptyEngine(t *testing.T) {
	var e *Engine
	if d := e.Evaluate(&Request{Route: "x"}); !d.Allowed || d.Reason != ReasonNoPolicy {
		t.Errorf("nil engine: %+v", d)
	}
	e, err := New(nil)
	if err != nil || !e.Empty() || e.Selects("x") {
		t.Fatalf("empty engine: %v", err)
	}
	e, _ = New(policies())
	if !e.Selects("payments-v1") || !e.Selects("catalog") /* block-bad-ips selects every route */ {
		t.Error("Selects")
	}
}

func TestExplain(t *testing.T) {
	e, _ := New(policies())
	x := e.Explain(&Request{Route: "orders", Method: "DELETE", Path: "/orders", Principal: "spiffe://cluster.local/ns/shop/sa/web"})
	if x.Decision.Allowed || x.Decision.Reason != ReasonDefaultDeny {
		t.Fatalf("decision %+v", x.Decision)
	}
	var sawMethods, sawRoutes bool
	for _, s := range x.Steps {
		if s.Policy == "orders-read" && s.Rule == "web-reads" && s.Failed == "rules[0].to.methods" && s.Selected && !s.Matched {
			sawMethods = true
		}
		if s.Policy == "payments-nobody" && !s.Selected && s.Failed == "routes" {
			sawRoutes = true
		}
	}
	if !sawMethods || !sawRoutes {
		t.Errorf("steps do not say why: %+v", x.Steps)
	}
	if x.Steps[0].Policy != "block-bad-ips" || x.Steps[len(x.Steps)-1].Policy != "public-anything" {
		t.Errorf("steps out of order: %+v", x.Steps)
	}
}

func TestValidate(t *testing.T) {
	bad := []Policy{
		{Action: "ALLOW"},
		{Name: "a", Action: "CUSTOM"},
		{Name: "a", Action: "maybe"},
		{Name: "b", Action: "DENY", Routes: []string{"a*b"}, Rules: []Rule{{
			From: &Source{IPBlocks: []string{"10.0.0.0/33", "nope"}, Principals: []string{}},
			To:   &Operation{Paths: []string{"orders", "/x?y=1"}},
			When: []Condition{{Key: "request.auth.claim[iss]", Values: []string{"x"}}, {Key: "request.auth.claims[iss]"}, {Key: "request.auth.claims[]", Values: []string{"x"}}, {Key: "source.ip", Values: []string{"300.1.1.1"}}},
		}}},
	}
	_, err := New(bad)
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("error %T %v", err, err)
	}
	want := []string{
		"authorization[0].name: a policy needs a name",
		`authorization[a].action: action CUSTOM is not supported`,
		`authorization[a].name: policy name "a" is used twice`,
		`authorization[a].action: unknown action "maybe"`,
		`authorization[b].routes[0]: "a*b": a * may only stand at the start or the end`,
		`authorization[b].rules[0].from.principals: empty list`,
		`authorization[b].rules[0].from.ip_blocks[0]: "10.0.0.0/33" is not an IP address or CIDR (write it like 10.0.0.0/8`,
		`authorization[b].rules[0].from.ip_blocks[1]: "nope"`,
		`authorization[b].rules[0].to.paths[0]: path "orders" does not start with /`,
		`authorization[b].rules[0].to.paths[1]: path "/x?y=1" holds ?`,
		`authorization[b].rules[0].when[0].key: unknown key "request.auth.claim[iss]" (known keys: request.auth.claims[NAME]`,
		`authorization[b].rules[0].when[1]: condition on "request.auth.claims[iss]" has neither values nor not_values`,
		`authorization[b].rules[0].when[2].key: malformed claim key`,
		`authorization[b].rules[0].when[3].values[0]: "300.1.1.1" is not an IP`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("problems lack %q:\n%s", w, msg)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ps), len(want), msg)
	}
	if ps := Validate("", policies()); len(ps) != 0 {
		t.Errorf("valid policies: %v", ps)
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	e, _ := New(policies())
	h := func(string) string { return "acme-1" }
	reqs := []Request{
		{Route: "orders", Method: "GET", Path: "/orders/7", Principal: "spiffe://cluster.local/ns/shop/sa/web", SourceIP: netip.MustParseAddr("10.1.1.1")},
		{Route: "orders", Method: "PUT", Path: "/orders/1", Headers: h, Claims: map[string]any{"iss": "https://issuer.example", "sub": "svc-x", "scope": "a b orders:read", "realm_access": map[string]any{"roles": []any{"admin"}}}},
		{Route: "orders", Method: "DELETE", Path: "/orders", Principal: "spiffe://cluster.local/ns/shop/sa/web"},
	}
	for i := range reqs {
		if n := testing.AllocsPerRun(100, func() { e.Evaluate(&reqs[i]) }); n != 0 {
			t.Errorf("request %d: %v allocations per Evaluate", i, n)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	e, _ := New(policies())
	cases := map[string]Request{
		"allow-principal": {Route: "orders", Method: "GET", Path: "/orders/7", Principal: "spiffe://cluster.local/ns/shop/sa/web", SourceIP: netip.MustParseAddr("10.1.1.1")},
		"allow-claims":    {Route: "orders", Method: "POST", Path: "/orders", Claims: map[string]any{"iss": "https://issuer.example", "scope": "orders:read orders:write"}},
		"default-deny":    {Route: "orders", Method: "DELETE", Path: "/orders", Principal: "spiffe://cluster.local/ns/shop/sa/web"},
		"no-policy":       {Route: "catalog", Method: "GET", Path: "/x", SourceIP: netip.MustParseAddr("10.1.1.1")},
	}
	for name, req := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Evaluate(&req)
			}
		})
	}
}
