package dataplane

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/internal/certgen"
)

// TestCertificateRotationUnderLoad rotates the listener's certificate on
// disk while clients open new TLS connections without pause: no request
// fails, and new connections get the new certificate.
func TestCertificateRotationUnderLoad(t *testing.T) {
	p := newPKI(t)
	a := startBackend(t, "a")
	_, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    tls: {cert_file: %s, key_file: %s, client_ca_file: %s, require_client_cert: true}
    routes: [{match: {prefix: /}, cluster: api}]
clusters:
  - {name: api, endpoints: [{address: %s}]}
`, p.certF, p.keyF, p.caFile, a.addr))
	addr := url[len("http://"):]
	var serials sync.Map
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientCert},
			VerifyConnection: func(cs tls.ConnectionState) error {
				serials.Store(cs.PeerCertificates[0].SerialNumber.String(), true)
				return nil
			}},
	}, Timeout: 5 * time.Second}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("https://" + addr + "/x")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					if err == nil {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					firstErr.CompareAndSwap(nil, fmt.Sprint(err))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for range 3 {
		time.Sleep(1200 * time.Millisecond)
		leaf, err := p.ca.Issue(certgen.Options{CommonName: "meshd", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := leaf.Write(p.dir, "server"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed during rotation (%d ok), first: %v", failed.Load(), ok.Load(), firstErr.Load())
	}
	n := 0
	serials.Range(func(k, v any) bool { n++; return true })
	if n < 2 {
		t.Fatalf("clients saw %d certificate(s); the rotated certificate was never served", n)
	}
}
