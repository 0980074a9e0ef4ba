package tokens

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/client/jwtauth"
	"github.com/wasmesh/wasmesh/internal/certgen"
)

// TestBothLayers: the caller proves its identity with its certificate
// (mTLS) and with a token it signed itself; the receiver checks both and
// sees the same SPIFFE ID twice.
func TestBothLayers(t *testing.T) {
	const web = "spiffe://example.org/ns/shop/sa/web"
	ca, _ := certgen.NewCA("mesh", time.Hour)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	pair := func(id string) (tls.Certificate, *certgen.Leaf) {
		l, err := ca.Issue(certgen.Options{SPIFFEID: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		return c, l
	}
	webCert, webLeaf := pair(web)
	// meshd signs its tokens with its workload key (tls.key).
	key, err := ParseSigningKeyPEM(webLeaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(nil)
	defer jwks.Close()
	ss, err := NewSelfSigned(SelfSignedConfig{Issuer: jwks.URL, Subject: web, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	jwks.Config.Handler = ss
	v, err := jwtauth.New(t.Context(), jwtauth.Config{JWKSURL: jwks.URL, Algorithms: []string{ss.Algorithm()}, Issuer: jwks.URL, Audience: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	orders := httptest.NewUnstartedServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := jwtauth.ClaimsFromContext(r.Context())
		io.WriteString(w, r.TLS.PeerCertificates[0].URIs[0].String()+" "+claims["sub"].(string))
	})))
	ordersCert, _ := pair("spiffe://example.org/ns/shop/sa/orders")
	orders.TLS = &tls.Config{Certificates: []tls.Certificate{ordersCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	orders.StartTLS()
	defer orders.Close()

	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{webCert}}}
	client := &http.Client{Transport: &Transport{Source: ss.ForAudience("orders"), Base: base}}
	resp, err := client.Get(orders.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != web+" "+web {
		t.Errorf("%s %q", resp.Status, b)
	}

	// A token for another audience is refused by the receiver.
	other := &http.Client{Transport: &Transport{Source: ss.ForAudience("billing"), Base: base}}
	resp, err = other.Get(orders.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong audience: %s", resp.Status)
	}
	// No token: the transport fails with ErrNoToken instead of sending.
	none := &http.Client{Transport: &Transport{Source: ss, Base: base}}
	if _, err := none.Get(orders.URL); !errors.Is(err, ErrNoToken) {
		t.Errorf("no audience: %v", err)
	}
}
