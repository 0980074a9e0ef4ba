package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Version is meshd's version, set at build time with -ldflags.
var Version = "dev"

type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
}

// ServeAdmin starts the admin API on addr (the config's admin.address) and
// returns the bound address. drain is what POST /drain runs (meshd passes
// its shutdown path, so draining from the API and from SIGTERM agree).
func (s *Server) ServeAdmin(addr string, drain func()) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("admin: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", s.adminReady)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /server_info", s.adminServerInfo)
	mux.HandleFunc("GET /config_dump", s.adminConfigDump)
	mux.HandleFunc("GET /clusters", s.adminClusters)
	mux.HandleFunc("GET /routes", s.adminRoutes)
	mux.HandleFunc("GET /stats", s.adminStats)
	mux.HandleFunc("GET /metrics", s.adminMetrics)
	mux.HandleFunc("/logging", s.adminLogging)
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Reload(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"reloaded": false, "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "version": s.snap.Load().version})
	})
	mux.HandleFunc("/events/streams/{stream}", func(w http.ResponseWriter, r *http.Request) {
		s.serveEventsHTTP(w, r, nil, r.PathValue("stream"), false, 10*time.Second)
	})
	mux.HandleFunc("GET /events/stats", s.adminEventStats)
	mux.HandleFunc("GET /certs", s.adminCerts)
	mux.HandleFunc("POST /messaging/publish", s.adminPublish)
	mux.HandleFunc("GET /messaging/tail", s.adminTail)
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusAccepted, map[string]any{"draining": true})
		if drain != nil {
			go drain()
		}
	})
	a := &adminServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	s.admin = a
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin API stopped", "error", err)
		}
	}()
	s.log.Info("admin API started", "address", ln.Addr().String())
	return ln.Addr().String(), nil
}

// adminMetrics writes every metric in Prometheus text format: the data
// plane's registry, then the Wasm host's (guest-defined metrics included).
func (s *Server) adminMetrics(w http.ResponseWriter, _ *http.Request) {
	mfs, err := s.stats.Registry.Gather()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return
		}
	}
	s.filters.mu.Lock()
	rt := s.filters.rt
	s.filters.mu.Unlock()
	if rt != nil {
		_ = rt.WritePrometheus(w)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) adminReady(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.draining.Load():
		http.Error(w, "draining", http.StatusServiceUnavailable)
	case s.snap.Load() == nil:
		http.Error(w, "no config applied yet", http.StatusServiceUnavailable)
	default:
		var bad []string
		for name, err := range s.msg.health(r.Context()) {
			if err != nil {
				bad = append(bad, fmt.Sprintf("broker %s: %v", name, err))
			}
		}
		for name, err := range s.reg.health(r.Context()) {
			if err != nil {
				bad = append(bad, fmt.Sprintf("registry %s: %v", name, err))
			}
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			http.Error(w, strings.Join(bad, "\n"), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "LIVE")
	}
}

// ServerInfo is the JSON of /server_info.
type ServerInfo struct {
	Version       string  `json:"version"`
	State         string  `json:"state"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	ConfigVersion string  `json:"config_version"`
	GoVersion     string  `json:"go_version"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
}

func (s *Server) adminServerInfo(w http.ResponseWriter, _ *http.Request) {
	info := ServerInfo{Version: Version, State: "LIVE", UptimeSeconds: time.Since(s.started).Seconds(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if s.draining.Load() {
		info.State = "DRAINING"
	}
	if sn := s.snap.Load(); sn != nil {
		info.ConfigVersion = sn.version
	} else {
		info.State = "INITIALIZING"
	}
	writeJSON(w, http.StatusOK, info)
}

// ConfigDump is the JSON of /config_dump.
type ConfigDump struct {
	Version         string         `json:"version"`
	LoadedAt        time.Time      `json:"loaded_at"`
	Config          any            `json:"config"`
	LastReloadError *reloadError   `json:"last_reload_error,omitempty"`
	Sources         map[string]any `json:"sources,omitempty"`
}

func (s *Server) adminConfigDump(w http.ResponseWriter, _ *http.Request) {
	sn := s.snap.Load()
	if sn == nil {
		http.Error(w, "no config applied yet", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, ConfigDump{Version: sn.version, LoadedAt: sn.loadedAt, Config: sn.cfg, LastReloadError: s.lastErr.Load(), Sources: s.statuses()})
}

// ClusterStatus is one cluster in /clusters.
type ClusterStatus struct {
	Name           string           `json:"name"`
	LB             string           `json:"lb"`
	ActiveRequests int64            `json:"active_requests"`
	Endpoints      []EndpointStatus `json:"endpoints"`
}

// EndpointStatus is one endpoint in /clusters.
type EndpointStatus struct {
	Address        string  `json:"address"`
	Weight         int     `json:"weight"`
	Healthy        bool    `json:"healthy"`
	Ejected        bool    `json:"ejected"`
	ActiveRequests int64   `json:"active_requests"`
	Requests       uint64  `json:"requests"`
	SuccessRate    float64 `json:"success_rate"`
	Source         string  `json:"source"`
}

func (s *Server) adminClusters(w http.ResponseWriter, _ *http.Request) {
	var out []ClusterStatus
	for _, c := range s.mgr.All() {
		cs := ClusterStatus{Name: c.Name, LB: c.Def.LB, ActiveRequests: c.Active()}
		for _, h := range c.Hosts {
			cs.Endpoints = append(cs.Endpoints, EndpointStatus{
				Address: h.Addr, Weight: h.Weight(), Healthy: h.Healthy(), Ejected: h.Ejected(),
				ActiveRequests: h.ActiveRequests(), Requests: h.Requests(), SuccessRate: h.SuccessRate(), Source: h.Source,
			})
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"clusters": out})
}

// RouteStatus is one route in /routes.
type RouteStatus struct {
	Listener    string   `json:"listener"`
	VirtualHost string   `json:"virtual_host"`
	Name        string   `json:"name"`
	Match       string   `json:"match"`
	Action      string   `json:"action"`
	Timeout     string   `json:"timeout,omitempty"`
	Retry       int      `json:"retry_attempts,omitempty"`
	Filters     []string `json:"filters,omitempty"`
}

func (s *Server) adminRoutes(w http.ResponseWriter, _ *http.Request) {
	sn := s.snap.Load()
	var out []RouteStatus
	if sn != nil {
		names := make([]string, 0, len(sn.listeners))
		for n := range sn.listeners {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ls := sn.listeners[n]
			for _, vh := range ls.vhosts {
				for _, r := range vh.routes {
					rs := RouteStatus{Listener: n, VirtualHost: vh.name, Name: r.name, Match: describeMatch(r), Action: describeAction(r)}
					if r.timeout > 0 {
						rs.Timeout = r.timeout.String()
					}
					if r.retry != nil {
						rs.Retry = r.retry.attempts
					}
					if ls.chain != nil {
						for _, f := range ls.chain.filters {
							rs.Filters = append(rs.Filters, f.name)
						}
					}
					out = append(out, rs)
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"routes": out})
}

func describeMatch(r *routeSnap) string {
	m := r.cfg.Match
	var parts []string
	switch {
	case m.Path != "":
		parts = append(parts, "path="+m.Path)
	case m.Regex != "":
		parts = append(parts, "regex="+m.Regex)
	default:
		parts = append(parts, "prefix="+m.Prefix)
	}
	if len(m.Methods) > 0 {
		parts = append(parts, "methods="+strings.Join(m.Methods, ","))
	}
	for _, k := range sortedKeys(m.Headers) {
		parts = append(parts, "header:"+k+"="+m.Headers[k])
	}
	for _, k := range sortedKeys(m.Query) {
		parts = append(parts, "query:"+k+"="+m.Query[k])
	}
	return strings.Join(parts, " ")
}

func describeAction(r *routeSnap) string {
	switch {
	case r.directStatus != 0:
		return fmt.Sprintf("direct_response %d", r.directStatus)
	case r.redirect != nil:
		return fmt.Sprintf("redirect %d", r.redirect.Status)
	case len(r.clusters) == 1:
		return "cluster " + r.clusters[0].Name
	}
	var parts []string
	for i, c := range r.clusters {
		parts = append(parts, fmt.Sprintf("%s:%d", c.Name, r.weights[i]))
	}
	return "weighted " + strings.Join(parts, ",")
}

// Stat is one sample in /stats.
type Stat struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

func (s *Server) adminStats(w http.ResponseWriter, r *http.Request) {
	mfs, err := s.stats.Registry.Gather()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	filter := r.URL.Query().Get("filter")
	var out []Stat
	for _, mf := range mfs {
		name := mf.GetName()
		if filter != "" && !strings.Contains(name, filter) {
			continue
		}
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			if filter == "" {
				continue
			}
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out = append(out, Stat{name, labels, m.GetCounter().GetValue()})
			case dto.MetricType_GAUGE:
				out = append(out, Stat{name, labels, m.GetGauge().GetValue()})
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out = append(out, Stat{name + "_count", labels, float64(h.GetSampleCount())})
				out = append(out, Stat{name + "_sum", labels, h.GetSampleSum()})
				for _, q := range []float64{.5, .99} {
					out = append(out, Stat{fmt.Sprintf("%s_p%g", name, q*100), labels, quantile(h, q)})
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"stats": out})
}

// quantile estimates a quantile from histogram buckets by linear
// interpolation, as Prometheus' histogram_quantile does.
func quantile(h *dto.Histogram, q float64) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return 0
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if c >= rank {
			if c == prevCount {
				return b.GetUpperBound()
			}
			return prevBound + (b.GetUpperBound()-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b.GetUpperBound(), c
	}
	return prevBound
}

func (s *Server) adminLogging(w http.ResponseWriter, r *http.Request) {
	if s.opts.Level == nil {
		http.Error(w, "log level is fixed in this process", http.StatusNotImplemented)
		return
	}
	if lv := r.URL.Query().Get("level"); lv != "" {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			http.Error(w, "use POST /logging?level=debug|info|warn|error", http.StatusMethodNotAllowed)
			return
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(lv)); err != nil {
			http.Error(w, fmt.Sprintf("unknown level %q: use debug, info, warn or error", lv), http.StatusBadRequest)
			return
		}
		s.opts.Level.Set(l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"level": strings.ToLower(s.opts.Level.Level().String())})
}
