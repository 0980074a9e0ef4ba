package route

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
)

type kv struct {
	key, val []byte
	// canon is key in net/http's canonical form, for HTTP/2 requests.
	canon string
}

// Matcher is one compiled route match.
type Matcher struct {
	prefix  []byte
	exact   []byte
	re      *regexp.Regexp
	methods [][]byte
	headers []kv
	query   []kv
}

// NewMatcher compiles m. Conditions are checked cheapest first.
func NewMatcher(m conf.Match) (*Matcher, error) {
	c := &Matcher{}
	switch {
	case m.Path != "":
		c.exact = []byte(m.Path)
	case m.Regex != "":
		re, err := regexp.Compile("^(?:" + m.Regex + ")$")
		if err != nil {
			return nil, fmt.Errorf("route regex %q: %w", m.Regex, err)
		}
		c.re = re
	default:
		c.prefix = []byte(m.Prefix)
	}
	for _, meth := range m.Methods {
		c.methods = append(c.methods, []byte(strings.ToUpper(meth)))
	}
	for _, k := range sortedKeys(m.Headers) {
		c.headers = append(c.headers, kv{[]byte(k), []byte(m.Headers[k]), http.CanonicalHeaderKey(k)})
	}
	for _, k := range sortedKeys(m.Query) {
		c.query = append(c.query, kv{[]byte(k), []byte(m.Query[k]), k})
	}
	return c, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Match reports whether req, whose normalized path is path, matches.
func (c *Matcher) Match(req *fasthttp.Request, path []byte) bool {
	switch {
	case c.exact != nil:
		if !bytes.Equal(path, c.exact) {
			return false
		}
	case c.re != nil:
		if !c.re.Match(path) {
			return false
		}
	default:
		if !bytes.HasPrefix(path, c.prefix) {
			return false
		}
	}
	if len(c.methods) > 0 {
		m := req.Header.Method()
		ok := false
		for _, want := range c.methods {
			if bytes.Equal(m, want) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, h := range c.headers {
		if !bytes.Equal(req.Header.PeekBytes(h.key), h.val) {
			return false
		}
		if len(h.val) == 0 && req.Header.PeekBytes(h.key) == nil {
			return false
		}
	}
	if len(c.query) > 0 {
		args := req.URI().QueryArgs()
		for _, q := range c.query {
			if !bytes.Equal(args.PeekBytes(q.key), q.val) {
				return false
			}
		}
	}
	return true
}

// MatchHTTP is Match for a net/http request (HTTP/2 and gRPC listeners).
func (c *Matcher) MatchHTTP(r *http.Request, path string) bool {
	switch {
	case c.exact != nil:
		if path != string(c.exact) {
			return false
		}
	case c.re != nil:
		if !c.re.MatchString(path) {
			return false
		}
	default:
		if !strings.HasPrefix(path, string(c.prefix)) {
			return false
		}
	}
	if len(c.methods) > 0 {
		ok := false
		for _, want := range c.methods {
			if r.Method == string(want) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, h := range c.headers {
		vs, present := r.Header[h.canon]
		if !present && len(h.val) == 0 {
			return false
		}
		v := ""
		if len(vs) > 0 {
			v = vs[0]
		}
		if v != string(h.val) {
			return false
		}
	}
	if len(c.query) > 0 {
		q := r.URL.Query()
		for _, kv := range c.query {
			if q.Get(kv.canon) != string(kv.val) {
				return false
			}
		}
	}
	return true
}

// CleanPath normalizes an HTTP/2 request path the way fasthttp does for
// HTTP/1.1 (dot segments, double slashes), so both protocols match alike.
func CleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "/.") && !strings.Contains(p, "//") {
		return p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// Rewrite replaces the matched prefix of path with repl (Envoy's
// prefix_rewrite); for exact and regex matches the whole path is replaced.
func (c *Matcher) Rewrite(dst, path []byte, repl string) []byte {
	if c.prefix != nil && bytes.HasPrefix(path, c.prefix) {
		dst = append(dst, repl...)
		return append(dst, path[len(c.prefix):]...)
	}
	return append(dst, repl...)
}

// Hosts picks a virtual host by the request's Host, as Envoy does: exact
// domain first, then the longest suffix wildcard ("*.example.com"), then
// the longest prefix wildcard ("api.*"), then "*".
type Hosts struct {
	exact    map[string]int
	suffixes []affix
	prefixes []affix
	any      int
}

type affix struct {
	s   []byte
	idx int
}

// NewHosts compiles the domains of each virtual host, in order.
func NewHosts(domains [][]string) *Hosts {
	h := &Hosts{exact: map[string]int{}, any: -1}
	for i, ds := range domains {
		for _, d := range ds {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				h.any = i
			case strings.HasPrefix(d, "*"):
				h.suffixes = append(h.suffixes, affix{[]byte(d[1:]), i})
			case strings.HasSuffix(d, "*"):
				h.prefixes = append(h.prefixes, affix{[]byte(d[:len(d)-1]), i})
			default:
				h.exact[d] = i
			}
		}
	}
	sort.SliceStable(h.suffixes, func(a, b int) bool { return len(h.suffixes[a].s) > len(h.suffixes[b].s) })
	sort.SliceStable(h.prefixes, func(a, b int) bool { return len(h.prefixes[a].s) > len(h.prefixes[b].s) })
	return h
}

// Select returns the index of the virtual host for host, or -1.
func (h *Hosts) Select(host []byte) int {
	if len(h.exact) == 0 && len(h.suffixes) == 0 && len(h.prefixes) == 0 {
		return h.any
	}
	var buf [256]byte
	lower := buf[:0]
	for _, c := range host {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	if i, ok := h.exact[string(lower)]; ok {
		return i
	}
	// Envoy tries the host with its port first, then without it.
	if j := bytes.LastIndexByte(lower, ':'); j > 0 && !bytes.HasSuffix(lower, []byte("]")) {
		lower = lower[:j]
		if i, ok := h.exact[string(lower)]; ok {
			return i
		}
	}
	for _, s := range h.suffixes {
		if bytes.HasSuffix(lower, s.s) {
			return s.idx
		}
	}
	for _, p := range h.prefixes {
		if bytes.HasPrefix(lower, p.s) {
			return p.idx
		}
	}
	return h.any
}
