package identity

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// MTLSMode is the `mtls:` setting, mesh-wide or per listener or cluster,
// with the meaning of Istio's PeerAuthentication modes.
type MTLSMode string

// The modes. Unset means "inherit": a listener or cluster without its own
// mode takes the mesh-wide one, and a mesh without one is Off, so configs
// written before mTLS existed keep working unchanged.
const (
	MTLSUnset MTLSMode = ""
	// MTLSStrict: listeners accept only mTLS connections with a client
	// certificate that chains to the trust bundle; clusters connect with
	// mTLS.
	MTLSStrict MTLSMode = "strict"
	// MTLSPermissive: listeners accept mTLS and plaintext on the same
	// port (the first byte tells them apart) and verify a client
	// certificate when one is offered; clusters connect with mTLS. It is
	// the migration step between off and strict.
	MTLSPermissive MTLSMode = "permissive"
	// MTLSOff: plaintext both ways (a listener's or cluster's own tls:
	// block still applies).
	MTLSOff MTLSMode = "off"
)

// ParseMTLSMode accepts strict, permissive, off (any case) or "".
func ParseMTLSMode(s string) (MTLSMode, error) {
	switch m := MTLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case MTLSUnset, MTLSStrict, MTLSPermissive, MTLSOff:
		return m, nil
	}
	return "", fmt.Errorf("identity: unknown mtls mode %q: use strict, permissive or off", s)
}

// Effective is the mode in force: override when set, else mesh, else off.
func Effective(mesh, override MTLSMode) MTLSMode {
	if override != MTLSUnset {
		return override
	}
	if mesh != MTLSUnset {
		return mesh
	}
	return MTLSOff
}

// ListenerMTLS is what a listener requires of its downstream connections.
type ListenerMTLS struct {
	Mode MTLSMode
	// TLS: the listener terminates TLS with the workload certificate.
	TLS bool
	// AcceptPlaintext: plaintext connections are accepted too
	// (PermissiveListener tells them apart).
	AcceptPlaintext bool
	// ClientAuth is the tls.Config.ClientAuth to use.
	ClientAuth tls.ClientAuthType
	// RequirePeerIdentity: a request without a verified peer SPIFFE ID
	// is refused (strict).
	RequirePeerIdentity bool
}

// ForListener decides what a listener requires, given the mesh-wide mode
// and the listener's own.
//
//	mode        TLS   plaintext  client certificate
//	strict      yes   no         required, verified against the bundle
//	permissive  yes   yes        verified if offered
//	off         no    yes        none
func ForListener(mesh, override MTLSMode) ListenerMTLS {
	switch m := Effective(mesh, override); m {
	case MTLSStrict:
		return ListenerMTLS{Mode: m, TLS: true, ClientAuth: tls.RequireAndVerifyClientCert, RequirePeerIdentity: true}
	case MTLSPermissive:
		return ListenerMTLS{Mode: m, TLS: true, AcceptPlaintext: true, ClientAuth: tls.VerifyClientCertIfGiven}
	default:
		return ListenerMTLS{Mode: MTLSOff, AcceptPlaintext: true, ClientAuth: tls.NoClientCert}
	}
}

// ClusterMTLS is what meshd presents when it connects to a cluster.
type ClusterMTLS struct {
	Mode MTLSMode
	// Originate: connect with TLS, present the workload certificate, and
	// verify the server's chain against the trust bundle and its SPIFFE
	// ID's trust domain.
	Originate bool
}

// ForCluster decides how meshd connects to a cluster, given the
// mesh-wide mode and the cluster's own. Strict and permissive both
// originate mTLS (permissive only relaxes what listeners accept); a
// cluster whose endpoints are outside the mesh says `mtls: off`.
func ForCluster(mesh, override MTLSMode) ClusterMTLS {
	switch m := Effective(mesh, override); m {
	case MTLSStrict, MTLSPermissive:
		return ClusterMTLS{Mode: m, Originate: true}
	default:
		return ClusterMTLS{Mode: MTLSOff}
	}
}

// ErrForeignTrustDomain is wrapped by VerifyTrustDomain's errors.
var ErrForeignTrustDomain = errors.New("peer is not in the trust domain")

// VerifyTrustDomain returns a tls.Config.VerifyConnection function that
// refuses a peer whose verified certificate's SPIFFE ID is not in
// trustDomain, so a bundle shared between trust domains (or a CA that
// signs for several) does not let a foreign workload in. A connection
// without a peer certificate passes; ClientAuth decides whether one is
// required.
func VerifyTrustDomain(trustDomain string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		leaf := cs.PeerCertificates[0]
		for _, u := range leaf.URIs {
			if u.Scheme == "spiffe" {
				if u.Host == trustDomain {
					return nil
				}
				return fmt.Errorf("identity: %w %s: %s", ErrForeignTrustDomain, trustDomain, u.String())
			}
		}
		return fmt.Errorf("identity: %w %s: certificate %q has no SPIFFE ID", ErrForeignTrustDomain, trustDomain, leaf.Subject.String())
	}
}
