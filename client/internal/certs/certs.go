package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files names the PEM files. CertFile and KeyFile go together; CAFile may
// be empty (system roots for a client, no client auth for a server).
type Files struct {
	CertFile, KeyFile, CAFile string
}

// Store is safe for concurrent use.
type Store struct {
	files Files

	mu      sync.Mutex
	stamp   string
	cert    *tls.Certificate
	pool    *x509.CertPool
	checked time.Time
}

// minCheck bounds how often the files are stat'ed under a storm of
// handshakes.
const minCheck = 100 * time.Millisecond

// New loads the files now, so a bad path fails at start-up.
func New(f Files) (*Store, error) {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("certs: cert file and key file go together")
	}
	s := &Store{files: f}
	if err := s.reload(true); err != nil {
		return nil, err
	}
	return s, nil
}

// Get returns the current certificate (nil when none) and CA pool (nil:
// system roots), reloading first if a file changed. A failed reload keeps
// the previous pair: a half-written rotation must not break handshakes.
func (s *Store) Get() (*tls.Certificate, *x509.CertPool) {
	_ = s.reload(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert, s.pool
}

func (s *Store) reload(force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(s.checked) < minCheck {
		return nil
	}
	s.checked = now
	stamp := ""
	for _, p := range []string{s.files.CertFile, s.files.KeyFile, s.files.CAFile} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		stamp += fmt.Sprintf("%s:%d:%d;", p, st.ModTime().UnixNano(), st.Size())
	}
	if !force && stamp == s.stamp {
		return nil
	}
	var cert *tls.Certificate
	if s.files.CertFile != "" {
		c, err := tls.LoadX509KeyPair(s.files.CertFile, s.files.KeyFile)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		cert = &c
	}
	var pool *x509.CertPool
	if s.files.CAFile != "" {
		pem, err := os.ReadFile(s.files.CAFile)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("certs: no certificate in %s", s.files.CAFile)
		}
	}
	s.cert, s.pool, s.stamp = cert, pool, stamp
	return nil
}

// ClientConfig makes a client tls.Config that presents the current
// certificate and verifies the server against the current CA pool,
// checking serverName when it is not empty (else the name sent as SNI).
func (s *Store) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, _ := s.Get()
			if c == nil {
				return &tls.Certificate{}, nil // no certificate to offer
			}
			return c, nil
		},
		// The pool can change, so the chain is verified here against the
		// current one rather than by crypto/tls against a fixed RootCAs.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool := s.Get()
			if len(cs.PeerCertificates) == 0 {
				return errors.New("certs: server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			name := serverName
			if name == "" {
				name = cs.ServerName
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: pool, Intermediates: inter, DNSName: name,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				return fmt.Errorf("certs: server certificate: %w", err)
			}
			return nil
		},
	}
}

// ServerConfig makes a server tls.Config with the current certificate;
// with a CA file it requires and verifies client certificates (mTLS).
func (s *Store) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := s.Get()
			if cert == nil {
				return nil, errors.New("certs: server has no certificate")
			}
			c := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*cert},
				NextProtos:   []string{"h2", "http/1.1"},
			}
			if pool != nil {
				c.ClientCAs = pool
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
			return c, nil
		},
	}
}
