package xds

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// TLS secures the connection to the management server: the CA that signs
// its certificate, and for mutual TLS meshd's own certificate and key, all
// PEM. An empty CA means the system roots.
type TLS struct {
	CA, Cert, Key []byte
	// ServerName is checked against the server's certificate (Envoy's
	// sni); empty means the host of the server address.
	ServerName string
}

// Config builds the tls.Config the gRPC connection uses.
func (t *TLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if len(t.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CA) {
			return nil, errors.New("xds TLS: the CA holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if len(t.Cert) > 0 || len(t.Key) > 0 {
		cert, err := tls.X509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("xds TLS: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// TLSFromFiles reads PEM files for TLS; empty names are left out.
func TLSFromFiles(ca, cert, key, serverName string) (*TLS, error) {
	t := &TLS{ServerName: serverName}
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{ca, &t.CA}, {cert, &t.Cert}, {key, &t.Key}} {
		if f.name == "" {
			continue
		}
		b, err := os.ReadFile(f.name)
		if err != nil {
			return nil, fmt.Errorf("xds TLS: %w", err)
		}
		*f.dst = b
	}
	if (len(t.Cert) > 0) != (len(t.Key) > 0) {
		return nil, errors.New("xds TLS: a client certificate needs its key, and a key its certificate")
	}
	return t, nil
}

// tlsFromSocket reads the ADS cluster's transport_socket: an
// UpstreamTlsContext with files or inline PEM (SDS is not supported).
func tlsFromSocket(ts *corev3.TransportSocket) (*TLS, error) {
	if ts.GetTypedConfig() == nil {
		return nil, fmt.Errorf("transport_socket %q: typed_config is missing", ts.GetName())
	}
	var up tlsv3.UpstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&up); err != nil {
		return nil, fmt.Errorf("transport_socket %q: meshd reads an UpstreamTlsContext: %w", ts.GetName(), err)
	}
	out := &TLS{ServerName: up.GetSni()}
	ctx := up.GetCommonTlsContext()
	if ctx.GetValidationContextSdsSecretConfig() != nil || len(ctx.GetTlsCertificateSdsSecretConfigs()) > 0 {
		return nil, errors.New("transport_socket: SDS secrets are not supported for the ADS connection; give files")
	}
	vc := ctx.GetValidationContext()
	if vc == nil {
		vc = ctx.GetCombinedValidationContext().GetDefaultValidationContext()
	}
	var err error
	if out.CA, err = readPEM(vc.GetTrustedCa()); err != nil {
		return nil, fmt.Errorf("transport_socket trusted_ca: %w", err)
	}
	if certs := ctx.GetTlsCertificates(); len(certs) > 0 {
		if out.Cert, err = readPEM(certs[0].GetCertificateChain()); err != nil {
			return nil, fmt.Errorf("transport_socket certificate_chain: %w", err)
		}
		if out.Key, err = readPEM(certs[0].GetPrivateKey()); err != nil {
			return nil, fmt.Errorf("transport_socket private_key: %w", err)
		}
	}
	if _, err := out.Config(); err != nil {
		return nil, err
	}
	return out, nil
}

func readPEM(d *corev3.DataSource) ([]byte, error) {
	switch {
	case d == nil:
		return nil, nil
	case d.GetFilename() != "":
		return os.ReadFile(d.GetFilename())
	case d.GetInlineBytes() != nil:
		return d.GetInlineBytes(), nil
	case d.GetInlineString() != "":
		return []byte(d.GetInlineString()), nil
	}
	return nil, errors.New("only filename, inline_bytes and inline_string are supported")
}
