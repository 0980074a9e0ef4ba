// Package tlsutil builds meshd's TLS configs from certificate files that
// are re-read when they change on disk (the way cert-manager and SPIRE
// rotate them), and names the peer of an mTLS connection.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/identity"
)

// checkEvery bounds how often the files' modification times are looked at.
const checkEvery = time.Second

// keyPair is a certificate and key loaded from files and reloaded when
// either file's modification time changes. Handshakes in progress keep the
// certificate they started with; new ones get the new one.
type keyPair struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	mtime             time.Time
	checked           time.Time
}

func newKeyPair(certFile, keyFile string) (*keyPair, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return kp, nil
}

func latest(files ...string) (time.Time, error) {
	var t time.Time
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return t, err
		}
		if st.ModTime().After(t) {
			t = st.ModTime()
		}
	}
	return t, nil
}

func (kp *keyPair) get() (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if kp.cert != nil && time.Since(kp.checked) < checkEvery {
		return kp.cert, nil
	}
	kp.checked = time.Now()
	mt, err := latest(kp.certFile, kp.keyFile)
	if err != nil {
		if kp.cert != nil {
			return kp.cert, nil // keep serving the old one mid-rotation
		}
		return nil, fmt.Errorf("tls: %w", err)
	}
	if kp.cert != nil && !mt.After(kp.mtime) {
		return kp.cert, nil
	}
	c, err := tls.LoadX509KeyPair(kp.certFile, kp.keyFile)
	if err != nil {
		if kp.cert != nil {
			return kp.cert, nil // half-written files: try again next time
		}
		return nil, fmt.Errorf("tls: load %s and %s: %w", kp.certFile, kp.keyFile, err)
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	kp.cert, kp.mtime = &c, mt
	return kp.cert, nil
}

// pool is a CA bundle reloaded like keyPair.
type pool struct {
	file    string
	mu      sync.Mutex
	p       *x509.CertPool
	mtime   time.Time
	checked time.Time
}

func newPool(file string) (*pool, error) {
	p := &pool{file: file}
	if _, err := p.get(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pool) get() (*x509.CertPool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil && time.Since(p.checked) < checkEvery {
		return p.p, nil
	}
	p.checked = time.Now()
	mt, err := latest(p.file)
	if err != nil {
		if p.p != nil {
			return p.p, nil
		}
		return nil, fmt.Errorf("tls: %w", err)
	}
	if p.p != nil && !mt.After(p.mtime) {
		return p.p, nil
	}
	pem, err := os.ReadFile(p.file)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cp := x509.NewCertPool()
	if !cp.AppendCertsFromPEM(pem) {
		if p.p != nil {
			return p.p, nil
		}
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", p.file)
	}
	p.p, p.mtime = cp, mt
	return cp, nil
}

// ServerConfig is a listener's TLS config offering alpn.
func ServerConfig(t *conf.ListenerTLS, alpn []string) (*tls.Config, error) {
	kp, err := newKeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	var cas *pool
	if t.ClientCAFile != "" {
		if cas, err = newPool(t.ClientCAFile); err != nil {
			return nil, err
		}
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: alpn}
	if t.TrustDomain != "" {
		base.VerifyConnection = identity.VerifyTrustDomain(t.TrustDomain)
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		cert, err := kp.get()
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{*cert}
		if cas != nil {
			p, err := cas.get()
			if err != nil {
				return nil, err
			}
			c.ClientCAs = p
			c.ClientAuth = tls.VerifyClientCertIfGiven
			if t.RequireClientCert {
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		return c, nil
	}
	return base, nil
}

// ClientConfig is the TLS config for connecting to a cluster.
func ClientConfig(t *conf.UpstreamTLS, alpn []string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, NextProtos: alpn}
	if t.CAFile != "" {
		p, err := newPool(t.CAFile)
		if err != nil {
			return nil, err
		}
		// Verify against the bundle as it is at handshake time, so a
		// rotated CA applies to new connections.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			roots, err := p.get()
			if err != nil {
				return err
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: upstream sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			if t.ServerName != "" {
				opts.DNSName = t.ServerName
			}
			if _, err = cs.PeerCertificates[0].Verify(opts); err != nil {
				return err
			}
			if t.TrustDomain != "" {
				return identity.VerifyTrustDomain(t.TrustDomain)(cs)
			}
			return nil
		}
	}
	if t.CertFile != "" {
		kp, err := newKeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return c, nil
}

// PeerIdentity names the verified client of a connection: its first URI
// SAN (a SPIFFE ID such as spiffe://example.org/ns/default/sa/web) or, when
// it has none, its subject. Empty when there is no verified client
// certificate.
func PeerIdentity(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return ""
	}
	leaf := cs.PeerCertificates[0]
	if len(leaf.URIs) > 0 {
		return leaf.URIs[0].String()
	}
	return leaf.Subject.String()
}
