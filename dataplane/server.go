package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane/internal/stats"
	"github.com/wasmesh/wasmesh/dataplane/internal/tlsutil"
	"github.com/wasmesh/wasmesh/dataplane/internal/upstream"
	"github.com/wasmesh/wasmesh/identity"
	"github.com/wasmesh/wasmesh/identity/audit"
	"github.com/wasmesh/wasmesh/identity/authz"
	"golang.org/x/net/http2"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives operational logs; defaults to slog.Default().
	Logger *slog.Logger
	// AccessLog receives one JSON line per request; nil disables it
	// unless the config's logging.access_log turns it on (then stdout).
	AccessLog *slog.Logger
	// Level, when set, is changed by the admin API's /logging.
	Level *slog.LevelVar
	// Reload is called by SIGHUP, POST /reload and the file watcher to
	// load the config again; nil means reload is not available.
	Reload func() (*conf.Config, string, error)
}

// Server is a running data plane.
type Server struct {
	opts  Options
	log   *slog.Logger
	stats *stats.Stats

	ctx    context.Context
	cancel context.CancelFunc
	mgr    *upstream.Manager

	mu        sync.Mutex // serializes Apply and shutdown
	snap      atomic.Pointer[snapshot]
	listeners map[string]*listener
	lastErr   atomic.Pointer[reloadError]
	draining  atomic.Bool
	started   time.Time

	sourcesMu sync.Mutex
	sources   map[string]func() any

	msg     *messaging
	filters *filterHost
	reg     *registries
	events  eventStore
	audit   auditState
	tokens  tokenHost
	trace   tracing
	// base is the config last applied by Apply, before discovered
	// endpoints are filled in; reapply builds from it again.
	base        *conf.Config
	baseVersion string

	cfgAccessLog bool
	accessLog    *slog.Logger
	admin        *adminServer
}

type reloadError struct {
	At  time.Time `json:"at"`
	Err string    `json:"error"`
}

// New makes a server with no config yet; Apply gives it one.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: opts.Logger, stats: stats.New(),
		ctx: ctx, cancel: cancel,
		listeners: map[string]*listener{},
		started:   time.Now(),
		accessLog: opts.AccessLog,
	}
	s.mgr = upstream.NewManager(ctx, s.stats, s.log)
	bm := brokers.NewMetrics("meshd")
	s.stats.Registry.MustRegister(bm)
	s.msg = newMessaging(s.log, bm)
	s.filters = &filterHost{s: s, plugins: map[string]*pluginEntry{}}
	s.reg = newRegistries(s)
	s.trace.exported = prometheus.NewCounter(prometheus.CounterOpts{Name: "meshd_tracing_spans_exported_total", Help: "Spans the OTLP collector accepted."})
	s.trace.failed = prometheus.NewCounter(prometheus.CounterOpts{Name: "meshd_tracing_spans_failed_total", Help: "Spans that could not be exported (collector down); they are dropped, never queued without bound."})
	s.stats.Registry.MustRegister(s.trace.exported, s.trace.failed)
	// Certificate expiry, read from the files in force at each scrape.
	s.stats.Registry.MustRegister(identity.ExpiryCollector("meshd", s.certList))
	s.audit.metrics = audit.NewMetrics("meshd")
	s.stats.Registry.MustRegister(s.audit.metrics)
	s.events.register(s.stats.Registry)
	return s
}

// Registry exposes the metrics registry so other parts of meshd (brokers,
// discovery, filters) can put their metrics on the same /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.stats.Registry }

// listener is one bound address: the raw listener, the fasthttp server for
// HTTP/1.1 and the HTTP/2 server, fed by one accept loop.
type listener struct {
	name, addr string
	protocol   string
	idle       time.Duration
	ln         net.Listener
	h1         *chanListener
	srv        *fasthttp.Server
	h2         *h2State
	// tlsState is the listener's TLS, swapped when a reload changes it
	// (certificates themselves reload from disk on their own).
	tlsState    atomic.Pointer[listenerTLS]
	snap        atomic.Pointer[listenerSnap]
	done        chan struct{}
	conns       prometheus.Gauge
	tlsFailures prometheus.Counter
}

// Apply builds cfg into a snapshot and swaps it in. cfg must have passed
// conf.Validate. On error nothing changes: the old snapshot keeps serving.
func (s *Server) Apply(cfg *conf.Config, version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyLocked(cfg, version)
}

// reapply builds the last applied config again, with the endpoints
// discovery found since; it is how a registry change reaches the load
// balancer without a reload.
func (s *Server) reapply() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == nil || s.draining.Load() {
		return nil
	}
	return s.applyLocked(s.base, s.baseVersion)
}

func (s *Server) applyLocked(base *conf.Config, version string) error {
	if s.draining.Load() {
		return errors.New("apply: server is draining")
	}
	if ps := conf.Validate(base); len(ps) > 0 {
		return ps
	}
	nextRegs, err := s.reg.prepare(s.ctx, base)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	regsCommitted := false
	defer func() {
		if !regsCommitted {
			for n, e := range nextRegs {
				if s.reg.regs[n] != e {
					e.r.Close()
				}
			}
		}
	}()
	cfg := s.reg.effective(base)
	s.cfgAccessLog = cfg.Logging.AccessLog == nil || *cfg.Logging.AccessLog
	if s.cfgAccessLog && s.accessLog == nil {
		s.accessLog = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	if s.opts.Level != nil && cfg.Logging.Level != "" {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(cfg.Logging.Level)); err == nil {
			s.opts.Level.Set(lv)
		}
	}
	clusters, err := s.mgr.Build(cfg.Clusters)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	engine, err := authz.New(cfg.Authorization)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	snap := &snapshot{version: version, cfg: cfg, loadedAt: time.Now(), listeners: map[string]*listenerSnap{}, clusters: clusters}
	plugins := map[string]*pluginEntry{}
	committed := false
	defer func() {
		if !committed {
			s.filters.discard(plugins)
		}
	}()
	toks, err := s.tokens.build(cfg)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	defer func() {
		if !committed {
			s.tokens.discard(toks)
		}
	}()
	for i := range cfg.Listeners {
		ls, err := s.compileListener(cfg, &cfg.Listeners[i], clusters, plugins, engine, toks)
		if err != nil {
			return fmt.Errorf("apply: listener %s: %w", cfg.Listeners[i].Name, err)
		}
		snap.listeners[ls.name] = ls
	}
	// Bind new addresses before anything changes, so a port in use
	// rejects the whole reload.
	var fresh []*listener
	tlsUpdates := map[*listener]*listenerTLS{}
	for _, l := range cfg.Listeners {
		if old, ok := s.listeners[l.Name]; ok && old.addr == l.Address {
			ts, err := listenerTLSFor(l)
			if err != nil {
				return fmt.Errorf("apply: listener %s: %w", l.Name, err)
			}
			if cur := old.tlsState.Load(); (cur == nil) != (ts == nil) || (cur != nil && cur.key != ts.key) {
				tlsUpdates[old] = ts
			}
			continue
		}
		ln, err := s.bind(l)
		if err != nil {
			for _, f := range fresh {
				f.ln.Close()
			}
			return fmt.Errorf("apply: listener %s: %w", l.Name, err)
		}
		fresh = append(fresh, ln)
	}
	evStore, evKey, err := s.events.prepare(s.ctx, cfg.EventLog)
	if err != nil {
		for _, f := range fresh {
			f.ln.Close()
		}
		return fmt.Errorf("apply: %w", err)
	}
	nextBrokers, err := s.msg.prepare(s.ctx, cfg)
	if err != nil {
		for _, f := range fresh {
			f.ln.Close()
		}
		return fmt.Errorf("apply: %w", err)
	}
	// Commit: from here on nothing fails.
	committed = true
	s.tokens.commit(toks)
	s.events.commit(evStore, evKey)
	s.filters.commit(plugins)
	s.mgr.Commit(clusters)
	var retired []*listener
	for name, old := range s.listeners {
		if l, ok := cfgListener(cfg, name); !ok || l.Address != old.addr {
			retired = append(retired, old)
			delete(s.listeners, name)
		}
	}
	for _, f := range fresh {
		s.listeners[f.name] = f
	}
	for l, ts := range tlsUpdates {
		l.tlsState.Store(ts)
	}
	for name, l := range s.listeners {
		l.snap.Store(snap.listeners[name])
	}
	for _, f := range fresh {
		go s.serve(f)
	}
	for _, old := range retired {
		go s.closeListener(old, cfg.DrainTimeout.D())
	}
	s.snap.Store(snap)
	s.msg.commit(s, cfg, nextBrokers)
	s.sourcesMu.Lock()
	s.commitAudit(cfg.Audit)
	s.sourcesMu.Unlock()
	if err := s.trace.commit(s.ctx, cfg.Tracing); err != nil {
		s.log.Error("tracing not configured", "error", err)
	}
	regsCommitted = true
	s.base, s.baseVersion = base, version
	s.reg.commit(base, nextRegs)
	s.stats.ConfigInfo.Reset()
	s.stats.ConfigInfo.WithLabelValues(version).Set(1)
	return nil
}

func cfgListener(cfg *conf.Config, name string) (conf.Listener, bool) {
	for _, l := range cfg.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return conf.Listener{}, false
}

func (s *Server) bind(l conf.Listener) (*listener, error) {
	idle := l.IdleTimeout.D()
	if idle == 0 {
		idle = 5 * time.Minute
	}
	ts, err := listenerTLSFor(l)
	if err != nil {
		return nil, err
	}
	nl, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, err
	}
	ln := &listener{
		name: l.Name, addr: l.Address, protocol: l.Protocol, idle: idle, ln: nl,
		h1: newChanListener(nl.Addr()), done: make(chan struct{}),
		conns:       s.stats.ListenerConns.WithLabelValues(l.Name),
		tlsFailures: s.stats.TLSHandshakeErrors.WithLabelValues(l.Name),
	}
	base := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handleHTTP(ln, w, r) }),
		IdleTimeout: idle,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	h2s := &http2.Server{IdleTimeout: idle, MaxConcurrentStreams: 1000}
	if err := http2.ConfigureServer(base, h2s); err != nil {
		nl.Close()
		return nil, err
	}
	ln.h2 = &h2State{srv: h2s, base: base, conns: map[net.Conn]struct{}{}}
	if ts != nil {
		ln.tlsState.Store(ts)
	}
	hdr := l.MaxRequestHeadersKB
	if hdr == 0 {
		hdr = 64
	}
	ln.srv = &fasthttp.Server{
		Handler:                      func(ctx *fasthttp.RequestCtx) { s.handle(ln, ctx) },
		Name:                         "meshd",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		NoDefaultDate:                true,
		DisablePreParseMultipartForm: true,
		StreamRequestBody:            true,
		MaxRequestBodySize:           maxBufferedBody,
		ReadBufferSize:               hdr << 10,
		WriteBufferSize:              16 << 10,
		IdleTimeout:                  idle,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{s.log},
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			switch st {
			case fasthttp.StateNew:
				ln.conns.Inc()
			case fasthttp.StateClosed, fasthttp.StateHijacked:
				ln.conns.Dec()
			}
		},
	}
	return ln, nil
}

// maxBufferedBody is the largest request body held in memory (so it can be
// retried); larger bodies stream to the upstream and are never retried
// once sent.
const maxBufferedBody = 1 << 20

// listenerTLS is a listener's TLS config and whether plaintext is served
// beside it; key tells whether a reload changed it.
type listenerTLS struct {
	cfg   *tls.Config
	plain bool
	key   string
}

func listenerTLSFor(l conf.Listener) (*listenerTLS, error) {
	if l.TLS == nil {
		return nil, nil
	}
	alpn := []string{"h2", "http/1.1"}
	switch l.Protocol {
	case "http1":
		alpn = []string{"http/1.1"}
	case "http2":
		alpn = []string{"h2"}
	}
	cfg, err := tlsutil.ServerConfig(l.TLS, alpn)
	if err != nil {
		return nil, err
	}
	return &listenerTLS{cfg: cfg, plain: l.TLS.AcceptPlaintext, key: jsonKey(l.TLS) + l.Protocol}, nil
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}

func (s *Server) serve(l *listener) {
	defer close(l.done)
	s.log.Info("listener started", "listener", l.name, "address", l.addr, "protocol", l.protocol, "tls", l.tlsState.Load() != nil)
	go s.acceptLoop(l)
	if err := l.srv.Serve(l.h1); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Error("listener stopped", "listener", l.name, "error", err)
	}
}

func (s *Server) closeListener(l *listener, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.shutdown(ctx); err != nil {
		s.log.Warn("listener drain cut short", "listener", l.name, "error", err)
	}
	s.log.Info("listener closed", "listener", l.name, "address", l.addr)
}

// shutdown stops accepting, then waits for HTTP/1.1 and HTTP/2 requests in
// flight, up to ctx.
func (l *listener) shutdown(ctx context.Context) error {
	l.ln.Close()
	var wg sync.WaitGroup
	var e1, e2 error
	wg.Add(2)
	go func() { defer wg.Done(); e1 = l.srv.ShutdownWithContext(ctx) }()
	go func() { defer wg.Done(); e2 = l.h2.shutdown(ctx) }()
	wg.Wait()
	return errors.Join(e1, e2)
}

// Reload loads the config again through Options.Reload and applies it. A
// config that fails is rejected, recorded for /config_dump and the
// reload-failure metric, and the old snapshot keeps serving.
func (s *Server) Reload() error {
	if s.opts.Reload == nil {
		return errors.New("reload: this server has no config source to reload from")
	}
	cfg, version, err := s.opts.Reload()
	if err == nil {
		err = s.Apply(cfg, version)
	}
	if err != nil {
		s.lastErr.Store(&reloadError{At: time.Now(), Err: err.Error()})
		s.stats.Reloads.WithLabelValues("failure").Inc()
		s.stats.ReloadFailed.Set(1)
		s.log.Error("config reload rejected; the previous config keeps serving", "error", err)
		return err
	}
	s.lastErr.Store(nil)
	s.stats.Reloads.WithLabelValues("success").Inc()
	s.stats.ReloadFailed.Set(0)
	s.log.Info("config reloaded", "version", version)
	return nil
}

// Addr returns the bound address of a listener (useful with port 0).
func (s *Server) Addr(listener string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.listeners[listener]; ok {
		return l.ln.Addr().String()
	}
	return ""
}

// Shutdown drains, as SIGTERM does: for the config's drain_grace meshd
// keeps serving but closes each connection after its response, so clients
// reconnect elsewhere; then listeners stop accepting and requests in
// flight finish, up to ctx's deadline; then background work stops.
func (s *Server) Shutdown(ctx context.Context) error {
	// Leave the registries first, so callers stop sending before we stop
	// accepting.
	s.reg.deregister()
	s.draining.Store(true)
	if sn := s.snap.Load(); sn != nil && sn.cfg.DrainGrace > 0 {
		t := time.NewTimer(sn.cfg.DrainGrace.D())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	s.mu.Lock()
	ls := make([]*listener, 0, len(s.listeners))
	for _, l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	var firstErr error
	var emu sync.Mutex
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.shutdown(ctx); err != nil {
				emu.Lock()
				firstErr = errors.Join(firstErr, fmt.Errorf("listener %s: %w", l.name, err))
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	if s.admin != nil {
		s.admin.close()
	}
	if a := s.auditor(); a != nil {
		_ = a.Close(ctx)
	}
	s.trace.close(ctx)
	s.msg.close()
	s.tokens.close()
	s.events.close()
	s.reg.close()
	s.filters.close()
	s.mgr.Close()
	s.cancel()
	return firstErr
}

// AddStatus puts fn's result under name in /config_dump's "sources", so a
// config source (xDS, discovery, brokers) can show its own state — versions,
// nonces, the last NACK — beside the config it feeds.
func (s *Server) AddStatus(name string, fn func() any) {
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	if s.sources == nil {
		s.sources = map[string]func() any{}
	}
	s.sources[name] = fn
}

func (s *Server) statuses() map[string]any {
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	if len(s.sources) == 0 {
		return nil
	}
	out := make(map[string]any, len(s.sources))
	for n, fn := range s.sources {
		out[n] = fn()
	}
	return out
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }
