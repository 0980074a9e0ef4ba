package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/identity/authz"
)

const authzConfig = `
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{name: orders, match: {prefix: /orders}, cluster: orders}]
clusters:
  - name: orders
    endpoints: [{address: 127.0.0.1:1}]
authorization:
  - name: no-legacy
    action: DENY
    rules:
      - name: legacy
        to: {paths: ["/orders/legacy/*"]}
  - name: orders-access
    action: ALLOW
    routes: [orders]
    rules:
      - name: web-reads
        from: {principals: ["spiffe://example.org/ns/shop/sa/web"]}
        to: {methods: [GET], paths: ["/orders", "/orders/*"]}
      - name: writers
        to: {methods: [POST]}
        when:
          - key: request.auth.claims[iss]
            values: ["https://issuer.example"]
          - key: request.auth.scopes
            values: ["orders:write"]
          - key: request.headers[x-tenant]
            values: ["acme"]
        from: {ip_blocks: ["10.0.0.0/8"]}
`

func writeConfig(t *testing.T, body string) string {
	f := filepath.Join(t.TempDir(), "meshd.yaml")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAuthzCheck(t *testing.T) {
	cfg := writeConfig(t, authzConfig)
	web := "spiffe://example.org/ns/shop/sa/web"
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--from", web, "--method", "GET", "--path", "/orders"}, 0, []string{"decision:  ALLOW", "policy:    orders-access", "rule:      web-reads"}},
		{[]string{"--from", web, "--method", "delete", "--path", "/orders"}, 3, []string{"decision:  DENY", authz.ReasonDefaultDeny, "no match at rules[0].to.methods", "no match at rules[1].from.ip_blocks"}},
		{[]string{"--from", web, "--path", "/orders/legacy/1?x=1"}, 3, []string{"DENY", "policy:    no-legacy", "rule:      legacy", "matched"}},
		{[]string{"--method", "POST", "--path", "/orders", "--ip", "10.1.2.3", "--claim", "iss=https://issuer.example", "--claim", "scope=orders:read orders:write", "--header", "X-Tenant=acme"}, 0, []string{"ALLOW", "rule:      writers"}},
		{[]string{"--method", "POST", "--path", "/orders", "--ip", "10.1.2.3", "--claim", "iss=https://issuer.example", "--claim", `scp=["orders:read"]`, "--header", "X-Tenant=acme"}, 3, []string{"DENY", "when[1](request.auth.scopes).values"}},
		{[]string{"--method", "POST", "--path", "/orders", "--ip", "192.168.1.1", "--claim", "iss=https://issuer.example", "--claim", "scope=orders:write", "--header", "x-tenant=acme"}, 3, []string{"no match at rules[1].from.ip_blocks"}},
	}
	for _, tt := range tests {
		args := append([]string{"authz", "check", "--config", cfg, "--route", "orders"}, tt.args...)
		out, err := run(t, args...)
		code := 0
		if err != nil {
			var ex exitError
			if !errorsAs(err, &ex) {
				t.Errorf("%v: %v", tt.args, err)
				continue
			}
			code = ex.code
		}
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d\n%s", tt.args, code, tt.code, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}

	out, _ := run(t, "authz", "check", "--config", cfg, "--from", web)
	if !strings.Contains(out, "note: no --route given") {
		t.Errorf("no route hint:\n%s", out)
	}
	out, _ = run(t, "authz", "check", "--config", cfg, "--route", "catalog", "-o", "json", "--path", "/x")
	var x authz.Explanation
	if err := json.Unmarshal([]byte(out), &x); err != nil || !x.Decision.Allowed || x.Decision.Reason != authz.ReasonNoPolicy || len(x.Steps) != 2 {
		t.Errorf("json: %v %s", err, out)
	}
}

func TestAuthzCheckBadConfig(t *testing.T) {
	tests := []struct {
		body string
		want []string
	}{
		{"authorization:\n  - name: a\n    action: ALLOW\n    rules:\n      - from: {principal: [x]}\n", []string{`unknown field "principal"`, "5"}},
		{"authorization:\n  - name: a\n    action: PERMIT\n    rules: [{to: {paths: [orders]}}]\n", []string{`authorization[a].action: unknown action "PERMIT"`, `authorization[a].rules[0].to.paths[0]: path "orders" does not start with /`, "2 problem(s)"}},
		{"listeners: []\n", []string{"no top-level authorization: key"}},
		{"authorization: [\n", []string{"not valid YAML"}},
	}
	for _, tt := range tests {
		out, err := run(t, "authz", "check", "--config", writeConfig(t, tt.body))
		if err == nil {
			t.Errorf("%q accepted", tt.body)
			continue
		}
		all := out + err.Error()
		for _, w := range tt.want {
			if !strings.Contains(all, w) {
				t.Errorf("%q: output lacks %q:\n%s", tt.body, w, all)
			}
		}
	}
	for _, args := range [][]string{{"--ip", "nope"}, {"--claim", "novalue"}, {"--header", "=x"}} {
		if _, err := run(t, append([]string{"authz", "check", "--config", writeConfig(t, authzConfig)}, args...)...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
