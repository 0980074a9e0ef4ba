package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmesh/wasmesh/internal/certgen"
)

func TestParseID(t *testing.T) {
	id, err := ParseID("spiffe://example.org/ns/shop/sa/web")
	if err != nil || id.TrustDomain != "example.org" || id.Namespace != "shop" || id.ServiceAccount != "web" || id.String() != "spiffe://example.org/ns/shop/sa/web" {
		t.Fatalf("%+v %v", id, err)
	}
	if NewID("example.org", "shop", "web") != id {
		t.Error("NewID differs from ParseID")
	}
	if id, err := ParseID("spiffe://example.org/workload/x"); err != nil || id.Namespace != "" || id.Path != "/workload/x" {
		t.Errorf("non-k8s path: %+v %v", id, err)
	}
	for _, bad := range []string{"https://example.org/ns/a/sa/b", "spiffe:///ns/a", "spiffe://Example.org/a", "spiffe://example.org:8443/a", "spiffe://example.org/a?x=1", "spiffe://example.org/a//b", "spiffe://example.org/a/"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !ValidTrustDomain("cluster.local") || ValidTrustDomain("Cluster") || ValidTrustDomain("") || ValidTrustDomain("a/b") {
		t.Error("ValidTrustDomain")
	}
}

func TestMTLSModes(t *testing.T) {
	tests := []struct {
		mesh, override MTLSMode
		want           MTLSMode
		tls, plain     bool
		auth           tls.ClientAuthType
		originate      bool
	}{
		{"", "", MTLSOff, false, true, tls.NoClientCert, false},
		{MTLSStrict, "", MTLSStrict, true, false, tls.RequireAndVerifyClientCert, true},
		{MTLSPermissive, "", MTLSPermissive, true, true, tls.VerifyClientCertIfGiven, true},
		{MTLSStrict, MTLSOff, MTLSOff, false, true, tls.NoClientCert, false},
		{MTLSOff, MTLSStrict, MTLSStrict, true, false, tls.RequireAndVerifyClientCert, true},
		{"", MTLSPermissive, MTLSPermissive, true, true, tls.VerifyClientCertIfGiven, true},
	}
	for _, tt := range tests {
		l, c := ForListener(tt.mesh, tt.override), ForCluster(tt.mesh, tt.override)
		if l.Mode != tt.want || l.TLS != tt.tls || l.AcceptPlaintext != tt.plain || l.ClientAuth != tt.auth || l.RequirePeerIdentity != (tt.want == MTLSStrict) {
			t.Errorf("listener %q/%q: %+v", tt.mesh, tt.override, l)
		}
		if c.Mode != tt.want || c.Originate != tt.originate {
			t.Errorf("cluster %q/%q: %+v", tt.mesh, tt.override, c)
		}
	}
	if m, err := ParseMTLSMode(" STRICT "); err != nil || m != MTLSStrict {
		t.Error(m, err)
	}
	if _, err := ParseMTLSMode("mutual"); err == nil || !strings.Contains(err.Error(), "strict, permissive or off") {
		t.Error(err)
	}
}

type pki struct {
	ca   *certgen.CA
	pool *x509.CertPool
}

func newPKI(t *testing.T) pki {
	ca, err := certgen.NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return pki{ca, p}
}

func (p pki) cert(t *testing.T, spiffe string) tls.Certificate {
	l, err := p.ca.Issue(certgen.Options{CommonName: "x", SPIFFEID: spiffe, DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serve runs an HTTP server on a permissive or strict listener and
// answers with the peer identity it saw.
func serve(t *testing.T, p pki, lm ListenerMTLS) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{p.cert(t, "spiffe://example.org/ns/shop/sa/orders")}, ClientCAs: p.pool, ClientAuth: lm.ClientAuth, VerifyConnection: VerifyTrustDomain("example.org")}
	var served net.Listener
	if lm.AcceptPlaintext {
		served = PermissiveListener(ln, cfg, time.Second)
	} else {
		served = tls.NewListener(ln, cfg)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "plaintext"
		if r.TLS != nil {
			who = "tls"
			if len(r.TLS.VerifiedChains) > 0 {
				who = r.TLS.PeerCertificates[0].URIs[0].String()
			}
		}
		io.WriteString(w, who)
	})}
	go srv.Serve(served)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestListenerModesEndToEnd(t *testing.T) {
	p := newPKI(t)
	foreign := p.cert(t, "spiffe://other.org/ns/shop/sa/web") // same CA, other trust domain
	other := newPKI(t)
	clientFor := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: certs}}}
	}
	web := clientFor(p.cert(t, "spiffe://example.org/ns/shop/sa/web"))

	strict := serve(t, p, ForListener(MTLSStrict, ""))
	if got, err := get(web, "https://"+strict+"/"); err != nil || got != "spiffe://example.org/ns/shop/sa/web" {
		t.Errorf("strict, mesh client: %q %v", got, err)
	}
	if _, err := get(clientFor(), "https://"+strict+"/"); err == nil {
		t.Error("strict: client without certificate accepted")
	}
	if got, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+strict+"/"); err == nil && !strings.Contains(got, "HTTP request to an HTTPS server") {
		t.Errorf("strict: plaintext accepted: %q", got)
	}
	if _, err := get(clientFor(foreign), "https://"+strict+"/"); err == nil {
		t.Error("strict: certificate from another trust domain accepted")
	}
	if _, err := get(clientFor(other.cert(t, "spiffe://example.org/ns/shop/sa/web")), "https://"+strict+"/"); err == nil {
		t.Error("strict: certificate from another CA accepted")
	}

	perm := serve(t, p, ForListener("", MTLSPermissive))
	if got, err := get(web, "https://"+perm+"/"); err != nil || got != "spiffe://example.org/ns/shop/sa/web" {
		t.Errorf("permissive, mesh client: %q %v", got, err)
	}
	if got, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+perm+"/"); err != nil || got != "plaintext" {
		t.Errorf("permissive, plaintext: %q %v", got, err)
	}
	if got, err := get(clientFor(), "https://"+perm+"/"); err != nil || got != "tls" {
		t.Errorf("permissive, TLS without certificate: %q %v", got, err)
	}
	if _, err := get(clientFor(foreign), "https://"+perm+"/"); err == nil {
		t.Error("permissive: foreign trust domain accepted")
	}
	// A silent client is closed after the sniff timeout and blocks nobody.
	silent, err := net.Dial("tcp", perm)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if got, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+perm+"/"); err != nil || got != "plaintext" {
		t.Errorf("behind a silent client: %q %v", got, err)
	}
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ne net.Error
	if _, err := silent.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("silent connection not closed by the listener: %v", err)
	}
}

func TestDescribeAndExpiryMetric(t *testing.T) {
	p := newPKI(t)
	long, _ := p.ca.Issue(certgen.Options{SPIFFEID: "spiffe://example.org/ns/shop/sa/web", Validity: 90 * 24 * time.Hour})
	now := time.Now()
	infos, err := DescribePEM("web/tls.crt", append(long.CertPEM, p.ca.PEM...), now, 0)
	if err != nil || len(infos) != 2 {
		t.Fatal(infos, err)
	}
	if ci := infos[0]; ci.SPIFFEID != "spiffe://example.org/ns/shop/sa/web" || ci.Status != StatusValid || ci.Role != "leaf" || !strings.Contains(ci.Issuer, "test-ca") || ci.ExpiresInSeconds < 89*24*3600 {
		t.Errorf("leaf %+v", ci)
	}
	if infos[1].Role != "ca" || !infos[1].IsCA {
		t.Errorf("ca %+v", infos[1])
	}
	statuses := map[time.Duration]string{
		0:                   StatusValid,
		85 * 24 * time.Hour: StatusExpiring, // inside the 7-day window
		91 * 24 * time.Hour: StatusExpired,
		-2 * 24 * time.Hour: StatusNotYetValid,
	}
	for shift, want := range statuses {
		if got := Describe("x", "server", long.Cert, now.Add(shift), 0).Status; got != want {
			t.Errorf("after %v: %s, want %s", shift, got, want)
		}
	}
	short, _ := p.ca.Issue(certgen.Options{SPIFFEID: "spiffe://example.org/ns/shop/sa/web", Validity: time.Hour})
	if got := Describe("x", "server", short.Cert, now.Add(30*time.Minute), 0).Status; got != StatusValid {
		t.Errorf("a one-hour certificate half-way: %s (window %v)", got, WarnWindow(short.Cert, 0))
	}
	if _, err := DescribePEM("empty", []byte("nope"), now, 0); err == nil {
		t.Error("no certificate accepted")
	}

	list := []CertInfo{Describe("listener/ingress", "server", long.Cert, now, 0), Describe("cluster/api", "client", short.Cert, now.Add(50*time.Minute), 0)}
	col := ExpiryCollector("meshd", func() []CertInfo { return list })
	want := fmt.Sprintf(`
# HELP meshd_certificate_expiring 1 when the certificate is inside its warning window or expired.
# TYPE meshd_certificate_expiring gauge
meshd_certificate_expiring{name="cluster/api",role="client",spiffe_id="spiffe://example.org/ns/shop/sa/web"} 1
meshd_certificate_expiring{name="listener/ingress",role="server",spiffe_id="spiffe://example.org/ns/shop/sa/web"} 0
`)
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "meshd_certificate_expiring"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(col, "meshd_certificate_expiry_timestamp_seconds"); n != 2 {
		t.Errorf("%d expiry series", n)
	}
}
