package meshdtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
)

// defaults go under the test's YAML (which overrides them): a free admin
// port instead of 9901, no access log on stdout, and a short drain so
// t.Cleanup is quick.
const defaults = `admin: {address: "127.0.0.1:0"}
logging: {access_log: false}
drain_timeout: 5s
drain_grace: 10ms
`

// Meshd is one in-process meshd.
type Meshd struct {
	srv   *dataplane.Server
	admin string
	once  sync.Once

	mu   sync.Mutex
	yaml string
	cfg  *conf.Config
}

type config struct {
	logger *slog.Logger
}

// Option tunes New and Start.
type Option func(*config)

// WithLogger sends meshd's operational logs to l (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Load parses and validates yaml as meshd would, under this package's
// defaults; the error lists every problem with its line.
func Load(yaml string) (*conf.Config, error) {
	src, err := conf.LoadBytes([]string{"meshdtest-defaults.yaml", "meshd.yaml"}, [][]byte{[]byte(defaults), []byte(yaml)})
	if err != nil {
		return nil, fmt.Errorf("meshdtest: config: %w", err)
	}
	return src.Config, nil
}

func versionOf(yaml string) string {
	h := sha256.Sum256([]byte(yaml))
	return hex.EncodeToString(h[:])[:12]
}

// New starts a meshd serving yaml; the caller must Close it. Tests use
// Start.
func New(yaml string, opts ...Option) (*Meshd, error) {
	c := config{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&c)
	}
	cfg, err := Load(yaml)
	if err != nil {
		return nil, err
	}
	m := &Meshd{yaml: yaml, cfg: cfg}
	m.srv = dataplane.New(dataplane.Options{Logger: c.logger, Reload: m.load})
	if err := m.srv.Apply(cfg, versionOf(yaml)); err != nil {
		_ = m.shutdown()
		return nil, fmt.Errorf("meshdtest: apply: %w", err)
	}
	admin, err := m.srv.ServeAdmin(cfg.Admin.Address, func() { _ = m.shutdown() })
	if err != nil {
		_ = m.shutdown()
		return nil, fmt.Errorf("meshdtest: %w", err)
	}
	m.admin = admin
	return m, nil
}

// Start runs a meshd for t; it fails t when the config is rejected, and
// drains the meshd at t.Cleanup.
func Start(t testing.TB, yaml string, opts ...Option) *Meshd {
	t.Helper()
	m, err := New(yaml, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Logf("meshdtest: drain: %v", err)
		}
	})
	return m
}

// load is the data plane's Reload source: the YAML last given to Reload.
func (m *Meshd) load() (*conf.Config, string, error) {
	m.mu.Lock()
	yaml := m.yaml
	m.mu.Unlock()
	cfg, err := Load(yaml)
	if err != nil {
		return nil, "", err
	}
	m.mu.Lock()
	m.cfg = cfg
	m.mu.Unlock()
	return cfg, versionOf(yaml), nil
}

// Reload applies yaml as meshd applies a changed config file: all or
// nothing, without dropping requests; when it is rejected the previous
// config keeps serving and the error says why. A listener keeps its bound
// port while its configured address stays the same (127.0.0.1:0 included).
// The admin address is not reloaded.
func (m *Meshd) Reload(yaml string) error {
	m.mu.Lock()
	prev, prevCfg := m.yaml, m.cfg
	m.yaml = yaml
	m.mu.Unlock()
	if err := m.srv.Reload(); err != nil {
		m.mu.Lock()
		m.yaml, m.cfg = prev, prevCfg
		m.mu.Unlock()
		return fmt.Errorf("meshdtest: reload: %w", err)
	}
	return nil
}

// Addr is the bound "host:port" of the named listener, "" if there is
// none.
func (m *Meshd) Addr(listener string) string { return m.srv.Addr(listener) }

// URL is the base URL of the named listener ("http://127.0.0.1:41234", or
// https for a TLS listener), "" if there is none.
func (m *Meshd) URL(listener string) string {
	addr := m.srv.Addr(listener)
	if addr == "" {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.cfg.Listeners {
		if l.Name == listener && l.TLS != nil {
			return "https://" + addr
		}
	}
	return "http://" + addr
}

// AdminAddr is the admin API's bound "host:port".
func (m *Meshd) AdminAddr() string { return m.admin }

// AdminURL is the admin API's base URL, for meshctl --admin or GETs of
// /ready, /clusters, /stats, /metrics.
func (m *Meshd) AdminURL() string { return "http://" + m.admin }

// Server is the data plane itself, for what this package does not wrap
// (its Prometheus registry, AddStatus, Draining).
func (m *Meshd) Server() *dataplane.Server { return m.srv }

// Close drains the meshd as SIGTERM does (deregistering, then finishing
// requests in flight) and stops the admin API. Safe to call twice.
func (m *Meshd) Close() error { return m.shutdown() }

func (m *Meshd) shutdown() error {
	var err error
	m.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = m.srv.Shutdown(ctx)
	})
	return err
}
