package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/identity/authz"
)

// authzCmd is `meshctl authz`: offline checks of authorization policies.
func (c *cli) authzCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "authz",
		Short: "Check authorization policies against a request, offline",
	}
	cmd.AddCommand(c.authzCheckCmd())
	return cmd
}

func (c *cli) authzCheckCmd() *cobra.Command {
	var (
		file, from, path, method, ip, route, host string
		claims, headers                           []string
	)
	cmd := &cobra.Command{
		Use:   "check --config FILE --from SPIFFE_ID --path P --method M",
		Short: "Explain whether a request would be allowed, and which policy and rule decide",
		Long: "Loads the policies under the top-level `authorization:` key of a meshd config file and\n" +
			"evaluates one request against them, as meshd would: DENY policies first, then ALLOW;\n" +
			"default deny when an ALLOW policy selects the route and none matches.\n" +
			"--claim k=v and --header k=v repeat; a claim given twice becomes a list, and a value\n" +
			"starting with [ or { is read as JSON. Exit status: 0 allowed, 3 denied, 1 on errors.",
		Example: "  meshctl authz check --config meshd.yaml --route orders --from spiffe://example.org/ns/shop/sa/web \\\n" +
			"    --method DELETE --path /orders --claim iss=https://issuer.example --claim scope='orders:read'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return errors.New("authz check: --config is required")
			}
			policies, err := loadPolicies(file)
			if err != nil {
				return err
			}
			eng, err := authz.New(policies)
			if err != nil {
				var ps authz.Problems
				if errors.As(err, &ps) {
					for _, p := range ps {
						fmt.Fprintf(c.out, "%s: %s\n", file, p)
					}
					fmt.Fprintf(c.out, "%d problem(s)\n", len(ps))
					return exitError{1}
				}
				return err
			}
			req := authz.Request{Route: route, Method: strings.ToUpper(method), Path: path, Host: host, Principal: from}
			if i := strings.IndexByte(req.Path, '?'); i >= 0 {
				req.Path = req.Path[:i]
			}
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					return fmt.Errorf("authz check: --ip %q is not an IP address", ip)
				}
				req.SourceIP = a
			}
			if req.Claims, err = parseClaims(claims); err != nil {
				return err
			}
			hm := map[string]string{}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok || k == "" {
					return fmt.Errorf("authz check: --header %q: write NAME=VALUE", h)
				}
				hm[strings.ToLower(k)] = v
			}
			req.Headers = func(k string) string { return hm[k] }

			x := eng.Explain(&req)
			if err := c.emit(x, func(w *tabwriter.Writer) {
				explainTable(w, x)
				if route == "" && routeLimited(policies) {
					fmt.Fprintln(w, "\nnote: no --route given, so policies limited to routes did not apply")
				}
			}); err != nil {
				return err
			}
			if !x.Decision.Allowed {
				return exitError{3}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "config", "", "meshd config file holding `authorization:`")
	f.StringVar(&from, "from", "", "peer identity (SPIFFE ID) as proven by mTLS; empty for none")
	f.StringVar(&path, "path", "/", "request path")
	f.StringVar(&method, "method", "GET", "HTTP method")
	f.StringVar(&route, "route", "", "name of the matched route (what policies' routes: select)")
	f.StringVar(&host, "host", "", "request Host")
	f.StringVar(&ip, "ip", "", "source IP address")
	f.StringArrayVar(&claims, "claim", nil, "JWT claim NAME=VALUE (repeat)")
	f.StringArrayVar(&headers, "header", nil, "request header NAME=VALUE (repeat)")
	return cmd
}

func routeLimited(ps []authz.Policy) bool {
	for _, p := range ps {
		if len(p.Routes) > 0 {
			return true
		}
	}
	return false
}

func explainTable(w *tabwriter.Writer, x authz.Explanation) {
	d := x.Decision
	verdict := "ALLOW"
	if !d.Allowed {
		verdict = "DENY"
	}
	fmt.Fprintf(w, "decision:\t%s\n", verdict)
	fmt.Fprintf(w, "reason:\t%s\n", d.Reason)
	if d.Policy != "" {
		fmt.Fprintf(w, "policy:\t%s\n", d.Policy)
	}
	if d.Rule != "" {
		fmt.Fprintf(w, "rule:\t%s\n", d.Rule)
	}
	if len(x.Steps) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPOLICY\tACTION\tRULE\tRESULT")
	for _, s := range x.Steps {
		res := "matched"
		switch {
		case !s.Selected:
			res = "route not selected"
		case !s.Matched:
			res = "no match at " + s.Failed
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Policy, s.Action, dash(s.Rule), res)
	}
}

func parseClaims(kvs []string) (map[string]any, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("authz check: --claim %q: write NAME=VALUE", kv)
		}
		var val any = v
		if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") {
			if err := json.Unmarshal([]byte(v), &val); err != nil {
				return nil, fmt.Errorf("authz check: --claim %s: not JSON: %w", k, err)
			}
		}
		switch prev := out[k].(type) {
		case nil:
			out[k] = val
		case []any:
			out[k] = append(prev, val)
		default:
			out[k] = []any{prev, val}
		}
	}
	return out, nil
}

// loadPolicies reads the top-level authorization: list of a meshd config
// file, strictly (unknown fields are errors with their line), ignoring the
// rest of the file.
func loadPolicies(file string) ([]authz.Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("authz check: %w", err)
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("authz check: %s is not valid YAML: %s", file, yaml.FormatError(err, false, true))
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, fmt.Errorf("authz check: %s is empty", file)
	}
	var top []*ast.MappingValueNode
	switch b := f.Docs[0].Body.(type) {
	case *ast.MappingNode:
		top = b.Values
	case *ast.MappingValueNode:
		top = []*ast.MappingValueNode{b}
	default:
		return nil, fmt.Errorf("authz check: %s: the top level is not a mapping", file)
	}
	for _, mv := range top {
		if strings.TrimSpace(mv.Key.String()) != "authorization" {
			continue
		}
		var ps []authz.Policy
		if err := yaml.NodeToValue(mv.Value, &ps, yaml.Strict()); err != nil {
			return nil, fmt.Errorf("authz check: %s: authorization:\n%s", file, yaml.FormatError(err, false, true))
		}
		return ps, nil
	}
	return nil, fmt.Errorf("authz check: %s has no top-level authorization: key", file)
}
