package authz

import (
	"net/netip"
	"strings"
)

// pattern is one compiled string pattern: exact, prefix ("abc*"),
// suffix ("*abc") or any ("*").
type pattern struct {
	kind uint8
	s    string
	fold bool // compare case-insensitively (hosts)
}

const (
	patExact uint8 = iota
	patPrefix
	patSuffix
	patAny
)

func compilePattern(v string, fold bool) pattern {
	switch {
	case v == "*":
		return pattern{kind: patAny}
	case strings.HasSuffix(v, "*"):
		return pattern{kind: patPrefix, s: v[:len(v)-1], fold: fold}
	case strings.HasPrefix(v, "*"):
		return pattern{kind: patSuffix, s: v[1:], fold: fold}
	}
	return pattern{kind: patExact, s: v, fold: fold}
}

func eq(a, b string, fold bool) bool {
	if fold {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func (p pattern) match(v string) bool {
	switch p.kind {
	case patAny:
		return true
	case patPrefix:
		return len(v) >= len(p.s) && eq(v[:len(p.s)], p.s, p.fold)
	case patSuffix:
		return len(v) >= len(p.s) && eq(v[len(v)-len(p.s):], p.s, p.fold)
	}
	return eq(v, p.s, p.fold)
}

// matchJoined matches the virtual string a+"/"+b without building it, so
// request principals (ISS/SUB) cost no allocation.
func (p pattern) matchJoined(a, b string) bool {
	n := len(a) + 1 + len(b)
	switch p.kind {
	case patAny:
		return true
	case patPrefix:
		return n >= len(p.s) && joinedEq(a, b, 0, p.s)
	case patSuffix:
		return n >= len(p.s) && joinedEq(a, b, n-len(p.s), p.s)
	}
	return n == len(p.s) && joinedEq(a, b, 0, p.s)
}

func joinedEq(a, b string, off int, s string) bool {
	for j := 0; j < len(s); j++ {
		i := off + j
		var c byte
		switch {
		case i < len(a):
			c = a[i]
		case i == len(a):
			c = '/'
		default:
			c = b[i-len(a)-1]
		}
		if c != s[j] {
			return false
		}
	}
	return true
}

type patterns []pattern

func (ps patterns) match(v string) bool {
	for i := range ps {
		if ps[i].match(v) {
			return true
		}
	}
	return false
}

// trimSPIFFE drops the spiffe:// scheme so that Istio-style principals
// ("cluster.local/ns/default/sa/web") and full SPIFFE IDs compare alike.
func trimSPIFFE(s string) string {
	const scheme = "spiffe://"
	if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
		return s[len(scheme):]
	}
	return s
}

// namespaceOf returns NS from spiffe://TD/ns/NS/..., or "".
func namespaceOf(id string) string {
	id = trimSPIFFE(id)
	i := strings.Index(id, "/ns/")
	if i < 0 {
		return ""
	}
	ns := id[i+4:]
	if j := strings.IndexByte(ns, '/'); j >= 0 {
		ns = ns[:j]
	}
	return ns
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
