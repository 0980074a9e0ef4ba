package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/identity"
	"github.com/wasmesh/wasmesh/internal/certgen"
)

func TestCertsInitAndShow(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "certs", "init", "--dir", dir, "--trust-domain", "example.org", "--namespace", "shop", "--service", "web,orders", "--service", "ops/admin")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"CA created", "spiffe://example.org/ns/shop/sa/web", "spiffe://example.org/ns/shop/sa/orders", "spiffe://example.org/ns/ops/sa/admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"ca/tls.crt", "ca/tls.key", "web/tls.crt", "web/tls.key", "web/ca.crt", "orders/tls.crt", "admin/ca.crt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "web/tls.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode())
	}

	// The certificates work for mTLS between the services.
	load := func(svc string) (tls.Certificate, *x509.CertPool) {
		kp, err := tls.LoadX509KeyPair(filepath.Join(dir, svc, "tls.crt"), filepath.Join(dir, svc, "tls.key"))
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := os.ReadFile(filepath.Join(dir, svc, "ca.crt"))
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(ca)
		return kp, p
	}
	oc, op := load("orders")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].URIs[0].String())
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{oc}, ClientCAs: op, ClientAuth: tls.RequireAndVerifyClientCert, VerifyConnection: identity.VerifyTrustDomain("example.org")}
	srv.StartTLS()
	defer srv.Close()
	wc, wp := load("web")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: wp, Certificates: []tls.Certificate{wc}}}}
	resp, err := client.Get(srv.URL) // 127.0.0.1 is in the certificate
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "spiffe://example.org/ns/shop/sa/web" {
		t.Errorf("orders saw %q", b)
	}

	// Running again reuses the CA and rotates the service certificate.
	before, _ := os.ReadFile(filepath.Join(dir, "web/tls.crt"))
	out, err = run(t, "certs", "init", "--dir", dir, "--trust-domain", "example.org", "--namespace", "shop", "--service", "web")
	if err != nil || !strings.Contains(out, "CA reused") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "web/tls.crt"))
	if string(before) == string(after) {
		t.Error("certificate not re-issued")
	}
	load("web") // the rotated pair still loads

	out, err = run(t, "certs", "show", filepath.Join(dir, "web/tls.crt"), filepath.Join(dir, "web/ca.crt"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"FILE", "spiffe://example.org/ns/shop/sa/web", "wasmesh dev CA example.org", "29d", "valid", "ca"} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "warning") {
		t.Errorf("unexpected warning:\n%s", out)
	}
	out, err = run(t, "certs", "show", "--warn-before", "720h", filepath.Join(dir, "web/tls.crt"))
	if err != nil || !strings.Contains(out, "warning: ") || !strings.Contains(out, "expires in 29d") || !strings.Contains(out, "expiring") {
		t.Errorf("near-expiry warning: %v\n%s", err, out)
	}
	out, _ = run(t, "certs", "show", "-o", "json", filepath.Join(dir, "web/tls.crt"))
	var js struct{ Certificates []identity.CertInfo }
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js.Certificates) != 1 || js.Certificates[0].SPIFFEID != "spiffe://example.org/ns/shop/sa/web" {
		t.Errorf("json: %v %s", err, out)
	}

	ca, _ := certgen.NewCA("old", time.Hour)
	expired, _ := ca.Issue(certgen.Options{SPIFFEID: "spiffe://example.org/ns/shop/sa/old", Validity: -time.Second})
	ef := filepath.Join(dir, "expired.crt")
	os.WriteFile(ef, expired.CertPEM, 0o644)
	out, err = run(t, "certs", "show", ef)
	var ex exitError
	if !errorsAs(err, &ex) || ex.code != 1 || !strings.Contains(out, "EXPIRED") {
		t.Errorf("expired: %v\n%s", err, out)
	}

	for _, args := range [][]string{
		{"certs", "init", "--dir", dir, "--trust-domain", "Example.ORG", "--service", "x"},
		{"certs", "init", "--trust-domain", "example.org", "--service", "x"},
		{"certs", "init", "--dir", dir, "--service", "a/b/c"},
		{"certs", "init", "--dir", dir, "--service", "a/web,b/web"},
		{"certs", "show", filepath.Join(dir, "web/tls.key")},
	} {
		if _, err := run(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestCertsFromAdminAPI(t *testing.T) {
	ca, _ := certgen.NewCA("mesh CA", 24*time.Hour)
	leaf, _ := ca.Issue(certgen.Options{SPIFFEID: "spiffe://example.org/ns/shop/sa/web", Validity: 90 * time.Minute})
	now := time.Now()
	body := identity.CertsResponse{TrustDomain: "example.org", MTLS: identity.MTLSStrict, Certificates: []identity.CertInfo{
		identity.Describe("listener/ingress", "server", leaf.Cert, now, 0),
		identity.Describe("cluster/orders", "client", leaf.Cert, now, 2*time.Hour),
		identity.Describe("trust_bundle", "ca", ca.Cert, now, 0),
	}}
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/certs" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(body)
	}))
	defer admin.Close()
	addr := strings.TrimPrefix(admin.URL, "http://")
	out, err := run(t, "certs", "--admin", addr)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"trust domain: example.org", "mtls: strict", "NAME", "listener/ingress", "cluster/orders", "trust_bundle", "spiffe://example.org/ns/shop/sa/web", "CN=mesh CA", "1h29m", "expiring", "warning: cluster/orders"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := run(t, "certs", "--admin", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "cannot reach meshd") {
		t.Errorf("unreachable: %v", err)
	}
}
