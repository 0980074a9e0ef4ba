package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wasmesh/wasmesh/client/internal/testpki"
)

func TestHTTPSWithMTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca")
	srvCert, srvKey := ca.Issue(t, "orders.internal")
	cliCert, cliKey := ca.Issue(t, "caller")
	scfg, err := TLSFiles{CertFile: srvCert, KeyFile: srvKey, CAFile: ca.File}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = scfg
	srv.StartTLS()
	defer srv.Close()
	res := NewStaticResolver(map[string][]Endpoint{"orders": {{Address: srv.Listener.Addr().String()}}})

	tests := []struct {
		name  string
		files TLSFiles
		ok    bool
	}{
		{"client certificate", TLSFiles{CertFile: cliCert, KeyFile: cliKey, CAFile: ca.File, ServerName: "orders.internal"}, true},
		{"no client certificate", TLSFiles{CAFile: ca.File, ServerName: "orders.internal"}, false},
		{"wrong server name", TLSFiles{CertFile: cliCert, KeyFile: cliKey, CAFile: ca.File, ServerName: "payments.internal"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ccfg, err := tt.files.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			c, _ := newClient(t, res, WithTLSConfig(ccfg), WithRetry(RetryPolicy{MaxAttempts: 1}))
			resp, err := c.Get("https://orders/")
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatal("handshake succeeded")
				}
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("err = %v, want ErrUnavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "caller" {
				t.Fatalf("server saw client %q", b)
			}
		})
	}
	if _, err := (TLSFiles{CertFile: cliCert}).ClientConfig(); err == nil {
		t.Error("cert without key accepted")
	}
	if _, err := (TLSFiles{CAFile: ca.File}).ServerConfig(); err == nil {
		t.Error("server without certificate accepted")
	}
}

func TestClientSpan(t *testing.T) {
	u := newUpstream(t, "u")
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	res := NewStaticResolver(map[string][]Endpoint{"svc": endpoints(u)})
	c, _ := newClient(t, res, WithTracerProvider(tp))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://svc/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans ended before the body was closed", n)
	}
	resp.Body.Close()
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "HTTP GET" {
		t.Fatalf("spans: %v", spans)
	}
	got, _ := u.lastRequest()
	want := "00-" + spans[0].SpanContext.TraceID().String() + "-" + spans[0].SpanContext.SpanID().String() + "-01"
	if tp := got.Header.Get("Traceparent"); tp != want {
		t.Fatalf("traceparent %q, want the client span's %q", tp, want)
	}
	if spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatal("client span is not a child of the caller's span")
	}
}

func TestH2CWithBaseTransport(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	base := &http.Transport{Protocols: new(http.Protocols)}
	base.Protocols.SetUnencryptedHTTP2(true)
	res := NewStaticResolver(map[string][]Endpoint{"svc": {{Address: srv.Listener.Addr().String()}}})
	c, _ := newClient(t, res, WithBaseTransport(base))
	if _, proto := get(t, c, "http://svc/"); proto != "HTTP/2.0" {
		t.Fatalf("proto %q, want HTTP/2.0 (h2c)", proto)
	}
}
