package dataplane

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/internal/certgen"
)

// workload writes a cert-manager style folder (tls.crt, tls.key, ca.crt)
// for a SPIFFE ID.
func workload(t *testing.T, ca *certgen.CA, id string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	leaf, err := ca.Issue(certgen.Options{CommonName: id, SPIFFEID: id, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := leaf.Write(dir, "tls"); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteCA(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func meshBlock(dir, mode string) string {
	return fmt.Sprintf("mesh: {trust_domain: example.org, mtls: %s, cert_file: %s, key_file: %s, ca_file: %s}\n",
		mode, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt"))
}

// TestStrictMTLSBetweenTwoMeshd: meshd B is strict; meshd A reaches it
// with its workload certificate (mesh-wide mTLS, no tls: blocks written);
// a client without a certificate, and one from another trust domain, are
// refused. The app behind B learns A's SPIFFE ID.
func TestStrictMTLSBetweenTwoMeshd(t *testing.T) {
	ca, _ := certgen.NewCA("mesh", time.Hour)
	dirA := workload(t, ca, "spiffe://example.org/ns/default/sa/web")
	dirB := workload(t, ca, "spiffe://example.org/ns/default/sa/orders")
	app := startBackend(t, "app")
	app.set(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Header.Get("X-Forwarded-Client-Cert")) })
	srvB, urlB := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
%slisteners:
  - {name: ingress, address: 127.0.0.1:0, routes: [{match: {prefix: /}, cluster: app}]}
clusters:
  - {name: app, mtls: off, endpoints: [{address: %s}]}
`, meshBlock(dirB, "strict"), app.addr))
	addrB := strings.TrimPrefix(urlB, "http://")
	_, urlA := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
%slisteners:
  - {name: ingress, address: 127.0.0.1:0, mtls: off, routes: [{match: {prefix: /}, cluster: orders}]}
clusters:
  - {name: orders, endpoints: [{address: %s}]}
`, meshBlock(dirA, "strict"), addrB))

	// The mesh call: A → B with mTLS, and B tells the app who called.
	if code, body, _ := get(t, urlA+"/orders"); code != 200 || body != "URI=spiffe://example.org/ns/default/sa/web" {
		t.Fatalf("mesh call: %d %q", code, body)
	}
	// /certs and the expiry metric show the identity in force.
	admin, err := srvB.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, certs, _ := get(t, "http://"+admin+"/certs")
	if !strings.Contains(certs, `"spiffe_id": "spiffe://example.org/ns/default/sa/orders"`) || !strings.Contains(certs, `"mtls": "strict"`) {
		t.Errorf("/certs: %s", certs)
	}
	_, metrics, _ := get(t, "http://"+admin+"/metrics")
	if !strings.Contains(metrics, "spiffe://example.org/ns/default/sa/orders") {
		t.Errorf("no certificate expiry metric for the workload certificate")
	}
	// No certificate: refused.
	noCert := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := noCert.Get("https://" + addrB + "/orders"); err == nil {
		resp.Body.Close()
		t.Fatalf("client without a certificate got %d", resp.StatusCode)
	}
	// Plaintext: refused.
	if resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(urlB + "/orders"); err == nil {
		resp.Body.Close()
		t.Fatalf("plaintext client got %d", resp.StatusCode)
	}
	// A certificate from the same CA but another trust domain: refused.
	evil, _ := ca.Issue(certgen.Options{CommonName: "evil", SPIFFEID: "spiffe://evil.org/ns/x/sa/y"})
	evilCert, _ := tls.X509KeyPair(evil.CertPEM, evil.KeyPEM)
	foreign := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{evilCert}}}}
	if resp, err := foreign.Get("https://" + addrB + "/orders"); err == nil {
		resp.Body.Close()
		t.Fatalf("foreign trust domain got %d", resp.StatusCode)
	}
}

// TestPermissiveMTLSServesBoth: a permissive listener takes mTLS and
// plaintext on one port.
func TestPermissiveMTLSServesBoth(t *testing.T) {
	ca, _ := certgen.NewCA("mesh", time.Hour)
	dir := workload(t, ca, "spiffe://example.org/ns/default/sa/orders")
	client := workload(t, ca, "spiffe://example.org/ns/default/sa/web")
	app := startBackend(t, "app")
	_, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
%slisteners:
  - {name: ingress, address: 127.0.0.1:0, routes: [{match: {prefix: /}, cluster: app}]}
clusters:
  - {name: app, mtls: off, endpoints: [{address: %s}]}
`, meshBlock(dir, "permissive"), app.addr))
	if code, _, _ := get(t, url+"/plain"); code != 200 {
		t.Fatalf("plaintext on a permissive listener: %d", code)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(client, "tls.crt"), filepath.Join(client, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}}
	resp, err := hc.Get(strings.Replace(url, "http://", "https://", 1) + "/tls")
	if err != nil {
		t.Fatalf("mTLS on a permissive listener: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("mTLS on a permissive listener: %d", resp.StatusCode)
	}
}
