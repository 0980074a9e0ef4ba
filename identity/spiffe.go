package identity

import (
	"fmt"
	"net/url"
	"strings"
)

// ID is a parsed SPIFFE ID. Wasmesh names workloads the way Istio does:
// spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT.
type ID struct {
	TrustDomain string
	// Path is everything after the trust domain, with its leading slash.
	Path string
	// Namespace and ServiceAccount are set when Path has the
	// /ns/NS/sa/NAME shape.
	Namespace      string
	ServiceAccount string
}

// NewID builds the SPIFFE ID of a service account.
func NewID(trustDomain, namespace, serviceAccount string) ID {
	return ID{TrustDomain: trustDomain, Path: "/ns/" + namespace + "/sa/" + serviceAccount, Namespace: namespace, ServiceAccount: serviceAccount}
}

// String is the spiffe:// URI.
func (id ID) String() string { return "spiffe://" + id.TrustDomain + id.Path }

// ParseID checks s against the SPIFFE ID rules (scheme spiffe, a
// lower-case trust domain, no query, fragment, port or user info).
func ParseID(s string) (ID, error) {
	u, err := url.Parse(s)
	if err != nil {
		return ID{}, fmt.Errorf("identity: %q is not a SPIFFE ID: %w", s, err)
	}
	switch {
	case u.Scheme != "spiffe":
		return ID{}, fmt.Errorf("identity: %q is not a SPIFFE ID: the scheme must be spiffe://", s)
	case u.Host == "":
		return ID{}, fmt.Errorf("identity: %q has no trust domain", s)
	case u.Host != strings.ToLower(u.Host) || u.Port() != "" || u.User != nil:
		return ID{}, fmt.Errorf("identity: %q: the trust domain must be lower-case, without port or user", s)
	case u.RawQuery != "" || u.Fragment != "":
		return ID{}, fmt.Errorf("identity: %q: a SPIFFE ID has no query or fragment", s)
	case strings.Contains(u.Path, "//") || strings.HasSuffix(u.Path, "/"):
		return ID{}, fmt.Errorf("identity: %q: empty path segment", s)
	}
	id := ID{TrustDomain: u.Host, Path: u.Path}
	seg := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(seg) == 4 && seg[0] == "ns" && seg[2] == "sa" {
		id.Namespace, id.ServiceAccount = seg[1], seg[3]
	}
	return id, nil
}

// ValidTrustDomain reports whether td can be a trust domain (lower-case
// letters, digits, dots, dashes and underscores).
func ValidTrustDomain(td string) bool {
	if td == "" {
		return false
	}
	for _, c := range td {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
