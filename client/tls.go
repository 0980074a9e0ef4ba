package client

import (
	"crypto/tls"
	"fmt"

	"github.com/wasmesh/wasmesh/client/internal/certs"
)

// TLSFiles names PEM files for (m)TLS. The files are read again when they
// change, at the next handshake, so rotated certificates need no restart.
type TLSFiles struct {
	// CertFile and KeyFile are this side's certificate and key (a client
	// without them cannot pass a server that requires mTLS).
	CertFile, KeyFile string
	// CAFile verifies the peer. For a server it turns on mTLS: client
	// certificates are required and checked against it.
	CAFile string
	// ServerName is the name the client expects in the server's
	// certificate; empty means the name the connection was made for.
	ServerName string
}

// ClientConfig returns a client tls.Config backed by the files.
func (f TLSFiles) ClientConfig() (*tls.Config, error) {
	s, err := certs.New(certs.Files{CertFile: f.CertFile, KeyFile: f.KeyFile, CAFile: f.CAFile})
	if err != nil {
		return nil, fmt.Errorf("client: tls: %w", err)
	}
	return s.ClientConfig(f.ServerName), nil
}

// ServerConfig returns a server tls.Config backed by the files; it needs
// CertFile and KeyFile, and requires client certificates when CAFile is
// set.
func (f TLSFiles) ServerConfig() (*tls.Config, error) {
	if f.CertFile == "" {
		return nil, fmt.Errorf("client: tls: a server needs a certificate")
	}
	s, err := certs.New(certs.Files{CertFile: f.CertFile, KeyFile: f.KeyFile, CAFile: f.CAFile})
	if err != nil {
		return nil, fmt.Errorf("client: tls: %w", err)
	}
	return s.ServerConfig(), nil
}
