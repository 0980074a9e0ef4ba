package identity

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CertInfo describes one certificate in force: the JSON shape of each
// entry of the admin API's GET /certs, which `meshctl certs` prints, and
// of `meshctl certs show -o json`.
type CertInfo struct {
	// Name says what uses the certificate: "listener/NAME",
	// "cluster/NAME", or a file name.
	Name string `json:"name"`
	// Role is "server" (a listener's), "client" (presented to a cluster),
	// "ca" (a trust bundle entry) or, for a file, "leaf".
	Role     string   `json:"role"`
	File     string   `json:"file,omitempty"`
	SPIFFEID string   `json:"spiffe_id,omitempty"`
	Subject  string   `json:"subject"`
	Issuer   string   `json:"issuer"`
	Serial   string   `json:"serial"`
	DNSNames []string `json:"dns_names,omitempty"`
	IPs      []string `json:"ip_addresses,omitempty"`
	IsCA     bool     `json:"is_ca,omitempty"`
	// NotBefore and NotAfter bound the validity (RFC 3339 in JSON).
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// ExpiresInSeconds is NotAfter minus the time of the description
	// (negative once expired).
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
	// Status is "valid", "expiring" (inside the warning window),
	// "expired" or "not_yet_valid".
	Status string `json:"status"`
}

// CertsResponse is the body of GET /certs on meshd's admin API.
type CertsResponse struct {
	TrustDomain  string     `json:"trust_domain,omitempty"`
	MTLS         MTLSMode   `json:"mtls,omitempty"`
	Certificates []CertInfo `json:"certificates"`
}

// Status values.
const (
	StatusValid       = "valid"
	StatusExpiring    = "expiring"
	StatusExpired     = "expired"
	StatusNotYetValid = "not_yet_valid"
)

// DefaultWarnBefore is how long before expiry a certificate counts as
// expiring, unless a quarter of its lifetime is shorter (so a one-hour
// SPIRE certificate is not "expiring" all its life).
const DefaultWarnBefore = 7 * 24 * time.Hour

// WarnWindow is the warning window for c: warnBefore when positive, else
// min(DefaultWarnBefore, a quarter of c's lifetime).
func WarnWindow(c *x509.Certificate, warnBefore time.Duration) time.Duration {
	if warnBefore > 0 {
		return warnBefore
	}
	return min(DefaultWarnBefore, c.NotAfter.Sub(c.NotBefore)/4)
}

// Describe describes c as of now.
func Describe(name, role string, c *x509.Certificate, now time.Time, warnBefore time.Duration) CertInfo {
	ci := CertInfo{
		Name: name, Role: role, Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		Serial: fmt.Sprintf("%X", c.SerialNumber), DNSNames: c.DNSNames, IsCA: c.IsCA,
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		ExpiresInSeconds: int64(c.NotAfter.Sub(now) / time.Second),
	}
	for _, ip := range c.IPAddresses {
		ci.IPs = append(ci.IPs, ip.String())
	}
	for _, u := range c.URIs {
		if u.Scheme == "spiffe" {
			ci.SPIFFEID = u.String()
			break
		}
	}
	switch {
	case now.Before(c.NotBefore):
		ci.Status = StatusNotYetValid
	case !now.Before(c.NotAfter):
		ci.Status = StatusExpired
	case c.NotAfter.Sub(now) < WarnWindow(c, warnBefore):
		ci.Status = StatusExpiring
	default:
		ci.Status = StatusValid
	}
	return ci
}

// DescribePEM describes every certificate in data (a leaf and its chain,
// or a bundle): role "ca" for CA certificates, "leaf" for the others.
func DescribePEM(name string, data []byte, now time.Time, warnBefore time.Duration) ([]CertInfo, error) {
	var out []CertInfo
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: %s: %w", name, err)
		}
		role := "leaf"
		if c.IsCA {
			role = "ca"
		}
		out = append(out, Describe(name, role, c, now, warnBefore))
	}
	if len(out) == 0 {
		return nil, errors.New("identity: " + name + " holds no PEM certificate")
	}
	return out, nil
}

// ExpiryCollector exports, for every certificate list returns:
//
//	<namespace>_certificate_expiry_timestamp_seconds{name,role,spiffe_id}  NotAfter as a Unix time
//	<namespace>_certificate_expiring{name,role,spiffe_id}                  1 inside the warning window or expired, else 0
//
// namespace is the process's metric prefix ("meshd" inside meshd). Alert
// on meshd_certificate_expiring == 1, or on
// meshd_certificate_expiry_timestamp_seconds - time() < N. list is called
// at every scrape, so it reports the certificates in force after rotations.
func ExpiryCollector(namespace string, list func() []CertInfo) prometheus.Collector {
	labels := []string{"name", "role", "spiffe_id"}
	return expiryCollector{list: list,
		expiry:   prometheus.NewDesc(namespace+"_certificate_expiry_timestamp_seconds", "When the certificate expires (Unix time).", labels, nil),
		expiring: prometheus.NewDesc(namespace+"_certificate_expiring", "1 when the certificate is inside its warning window or expired.", labels, nil),
	}
}

type expiryCollector struct {
	list             func() []CertInfo
	expiry, expiring *prometheus.Desc
}

func (e expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- e.expiry
	ch <- e.expiring
}

func (e expiryCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[3]string]bool{}
	for _, c := range e.list() {
		k := [3]string{c.Name, c.Role, c.SPIFFEID}
		if seen[k] {
			continue // a chain's second CA under the same name: keep the first
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(e.expiry, prometheus.GaugeValue, float64(c.NotAfter.Unix()), k[:]...)
		v := 0.0
		if c.Status == StatusExpiring || c.Status == StatusExpired {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(e.expiring, prometheus.GaugeValue, v, k[:]...)
	}
}
