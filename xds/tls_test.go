package xds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, all written as PEM files.
type testPKI struct {
	dir           string
	caPool        *x509.CertPool
	serverCert    tls.Certificate
	ca, cert, key string // client-side files
	caKey         *ecdsa.PrivateKey
	caTmpl        *x509.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), caPool: x509.NewCertPool()}
	var err error
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.caTmpl = &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, p.caTmpl, p.caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.caPool.AddCert(caCert)
	p.ca = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	p.serverCert = p.issue(t, "server", x509.ExtKeyUsageServerAuth, "", "")
	p.issue(t, "client", x509.ExtKeyUsageClientAuth, "client.pem", "client-key.pem")
	p.cert, p.key = filepath.Join(p.dir, "client.pem"), filepath.Join(p.dir, "client-key.pem")
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *testPKI) issue(t *testing.T, cn string, usage x509.ExtKeyUsage, certFile, keyFile string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caTmpl, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	if certFile != "" {
		p.write(t, certFile, "CERTIFICATE", der)
		p.write(t, keyFile, "EC PRIVATE KEY", kder)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLS: a bootstrap whose ADS cluster has a TLS transport
// socket connects with mutual TLS; without the client certificate the
// server refuses it.
func TestMutualTLS(t *testing.T) {
	pki := newPKI(t)
	a := startBackend(t, "A")
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.serverCert}, ClientCAs: pki.caPool, ClientAuth: tls.RequireAndVerifyClientCert})
	cp := startControlPlane(t, "127.0.0.1:0", nil, grpc.Creds(creds))
	listen := freeAddr(t)
	cp.set(t, "n1", spec{version: "1", listen: listen, routes: []*routev3.Route{prefixRoute("/", "a")}, clusters: map[string][]string{"a": {a.addr}}})

	bs, err := ParseBootstrap([]byte(`
node: { id: n1 }
dynamic_resources:
  ads_config: { api_type: GRPC, grpc_services: [{ envoy_grpc: { cluster_name: xds } }] }
  cds_config: { ads: {} }
  lds_config: { ads: {} }
static_resources:
  clusters:
    - name: xds
      type: STATIC
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          common_tls_context:
            validation_context: { trusted_ca: { filename: ` + pki.ca + ` } }
            tls_certificates: [{ certificate_chain: { filename: ` + pki.cert + ` }, private_key: { filename: ` + pki.key + ` } }]
      load_assignment: { cluster_name: xds, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ` + port(cp.addr) + ` } } } }] }] }
`))
	if err != nil {
		t.Fatal(err)
	}
	if bs.ADS.TLS == nil || len(bs.ADS.TLS.CA) == 0 || len(bs.ADS.TLS.Cert) == 0 {
		t.Fatalf("TLS not read from the transport socket: %+v", bs.ADS.TLS)
	}
	m := startMeshd(t, bs.ADS.Server, "n1", listen, false, func(o *Options) { o.TLS = bs.ADS.TLS })
	eventually(t, 5*time.Second, "serving over mutual TLS", bodyIs(m.url+"/", "A"))

	// The CA alone is not enough for a server that wants a client
	// certificate.
	noCert, err := TLSFromFiles(pki.ca, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	m2 := startMeshd(t, cp.addr, "n1", freeAddr(t), false, func(o *Options) { o.TLS = noCert })
	eventually(t, 5*time.Second, "the stream error is in the status", func() bool { return m2.client.Status().LastError != "" })
	if st := m2.client.Status(); st.Connected || m2.last() != nil {
		t.Errorf("connected without a client certificate: %+v", st)
	}
	if _, err := TLSFromFiles(pki.ca, pki.cert, "", ""); err == nil || !strings.Contains(err.Error(), "needs its key") {
		t.Errorf("certificate without key: %v", err)
	}
}
