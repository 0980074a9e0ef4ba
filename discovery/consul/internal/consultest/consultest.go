package consultest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Server is one fake agent plus catalog (a single node).
type Server struct {
	// Addr is host:port, for api.Config.Address.
	Addr string

	token      string
	datacenter string
	node       string

	mu       sync.Mutex
	index    uint64
	changed  chan struct{} // closed and replaced on every change
	services map[string]*api.AgentServiceRegistration
	checks   map[string]*check // by check id
	failing  bool
	noBlock  bool

	useTLS bool
	// CAFile is the PEM file of the server's certificate when started
	// WithTLS (trust it to talk HTTPS to the server).
	CAFile string

	healthQueries atomic.Int64
	indexes       []uint64 // ?index of every health query, in order
	done          chan struct{}
	srv           *httptest.Server
}

type check struct {
	id, name, serviceID string
	status, output      string
	ttl                 time.Duration
	deadline            time.Time
	http                string
	interval            time.Duration
	deregisterAfter     time.Duration
	criticalSince       time.Time
	stop                chan struct{}
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes every request need this ACL token (403 otherwise).
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithTLS serves HTTPS (httptest's certificate for 127.0.0.1); the
// certificate is written to Server.CAFile.
func WithTLS() Option { return func(s *Server) { s.useTLS = true } }

// WithDatacenter names the server's datacenter (default "dc1"); queries for
// another one fail as in Consul ("No path to datacenter").
func WithDatacenter(dc string) Option { return func(s *Server) { s.datacenter = dc } }

// Start runs a server until t ends.
func Start(t testing.TB, opts ...Option) *Server {
	s := &Server{
		datacenter: "dc1", node: "node-1", index: 10,
		changed:  make(chan struct{}),
		services: map[string]*api.AgentServiceRegistration{},
		checks:   map[string]*check{},
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/agent/service/register", s.register)
	mux.HandleFunc("PUT /v1/agent/service/deregister/{id}", s.deregister)
	mux.HandleFunc("PUT /v1/agent/service/maintenance/{id}", s.maintenance)
	mux.HandleFunc("PUT /v1/agent/check/update/{id}", s.updateTTL)
	mux.HandleFunc("GET /v1/health/service/{name}", s.health)
	mux.HandleFunc("GET /v1/status/leader", s.leader)
	s.srv = httptest.NewUnstartedServer(s.guard(mux))
	if s.useTLS {
		s.srv.StartTLS()
		s.CAFile = filepath.Join(t.TempDir(), "consul-ca.pem")
		block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
		if err := os.WriteFile(s.CAFile, block, 0o600); err != nil {
			t.Fatalf("consultest: write CA: %v", err)
		}
	} else {
		s.srv.Start()
	}
	s.Addr = strings.TrimPrefix(strings.TrimPrefix(s.srv.URL, "http://"), "https://")
	go s.reaper()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and its checkers.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return
	default:
	}
	close(s.done)
	for _, c := range s.checks {
		c.halt()
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// ResetIndex makes the index go backwards (to a value below any seen), as
// after a snapshot restore or a server swap.
func (s *Server) ResetIndex() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = 1
	s.notify(false)
}

// SetNoBlock makes blocking queries return at once, without change.
func (s *Server) SetNoBlock(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noBlock = on
	s.notify(false)
}

// SetFailing makes every request fail with 500 "No cluster leader".
func (s *Server) SetFailing(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = on
	s.notify(false)
}

// HealthQueries counts GET /v1/health/service requests.
func (s *Server) HealthQueries() int64 { return s.healthQueries.Load() }

// QueryIndexes returns the ?index of every health query so far, in order
// (0 for a non-blocking query).
func (s *Server) QueryIndexes() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.indexes...)
}

// CheckStatus returns a check's status ("" if unknown).
func (s *Server) CheckStatus(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.checks[id]; ok {
		return c.status
	}
	return ""
}

// HasService reports whether the agent holds the service id.
func (s *Server) HasService(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.services[id]
	return ok
}

// notify wakes blocked queries; bump raises the index first. s.mu held.
func (s *Server) notify(bump bool) {
	if bump {
		s.index++
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

func writeErr(w http.ResponseWriter, code int, format string, args ...any) {
	w.WriteHeader(code)
	fmt.Fprintf(w, format, args...)
}

func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		failing := s.failing
		s.mu.Unlock()
		if failing {
			writeErr(w, http.StatusInternalServerError, "No cluster leader")
			return
		}
		if s.token != "" {
			tok := r.Header.Get("X-Consul-Token")
			if tok == "" {
				tok = r.URL.Query().Get("token")
			}
			if tok == "" {
				tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			}
			if tok != s.token {
				writeErr(w, http.StatusForbidden, "Permission denied: ACL not found")
				return
			}
		}
		if dc := r.URL.Query().Get("dc"); dc != "" && dc != s.datacenter && !strings.HasPrefix(r.URL.Path, "/v1/agent/") {
			writeErr(w, http.StatusInternalServerError, "No path to datacenter")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func parseDur(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: %v", field, v, err)
	}
	return d, nil
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var reg api.AgentServiceRegistration
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reg); err != nil {
		writeErr(w, http.StatusBadRequest, "Request decode failed: %v", err)
		return
	}
	if reg.Name == "" {
		writeErr(w, http.StatusBadRequest, "Missing service name")
		return
	}
	if reg.ID == "" {
		reg.ID = reg.Name
	}
	defs := append(api.AgentServiceChecks{}, reg.Checks...)
	if reg.Check != nil {
		defs = append(defs, reg.Check)
	}
	var checks []*check
	for i, d := range defs {
		c := &check{id: d.CheckID, name: d.Name, serviceID: reg.ID, status: d.Status, http: d.HTTP}
		if c.id == "" {
			c.id = "service:" + reg.ID
			if len(defs) > 1 {
				c.id += ":" + strconv.Itoa(i+1)
			}
		}
		var err error
		if c.ttl, err = parseDur("TTL", d.TTL); err == nil {
			if c.interval, err = parseDur("Interval", d.Interval); err == nil {
				c.deregisterAfter, err = parseDur("DeregisterCriticalServiceAfter", d.DeregisterCriticalServiceAfter)
			}
		}
		if err != nil {
			writeErr(w, http.StatusBadRequest, "%v", err)
			return
		}
		if (c.ttl > 0) == (c.http != "") {
			writeErr(w, http.StatusBadRequest, "check %s: exactly one of TTL and HTTP is supported here", c.id)
			return
		}
		if c.http != "" && c.interval <= 0 {
			writeErr(w, http.StatusBadRequest, "Interval must be > 0 for HTTP checks")
			return
		}
		if c.status == "" {
			c.status = api.HealthCritical
		}
		checks = append(checks, c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropChecks(reg.ID, false)
	s.services[reg.ID] = &reg
	now := time.Now()
	for _, c := range checks {
		if c.ttl > 0 {
			c.deadline = now.Add(c.ttl)
		}
		if c.status == api.HealthCritical {
			c.criticalSince = now
		}
		s.checks[c.id] = c
		if c.http != "" {
			c.stop = make(chan struct{})
			go s.runHTTP(c)
		}
	}
	s.notify(true)
}

// dropChecks removes a service's checks (maintenance too, unless keep).
func (s *Server) dropChecks(serviceID string, keepMaint bool) {
	for id, c := range s.checks {
		if c.serviceID != serviceID || (keepMaint && strings.HasPrefix(id, "_service_maintenance:")) {
			continue
		}
		c.halt()
		delete(s.checks, id)
	}
}

func (c *check) halt() {
	if c.stop != nil {
		select {
		case <-c.stop:
		default:
			close(c.stop)
		}
	}
}

func (s *Server) deregister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.services[id]; !ok {
		writeErr(w, http.StatusNotFound, "Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)
		return
	}
	s.removeService(id)
}

func (s *Server) removeService(id string) {
	delete(s.services, id)
	s.dropChecks(id, false)
	s.notify(true)
}

func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	enable, err := strconv.ParseBool(r.URL.Query().Get("enable"))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "Missing value for enable")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.services[id]; !ok {
		writeErr(w, http.StatusNotFound, "No service registered with ID %q", id)
		return
	}
	cid := "_service_maintenance:" + id
	_, on := s.checks[cid]
	switch {
	case enable && !on:
		s.checks[cid] = &check{id: cid, name: "Service Maintenance Mode", serviceID: id,
			status: api.HealthCritical, output: r.URL.Query().Get("reason"), criticalSince: time.Now()}
		s.notify(true)
	case !enable && on:
		delete(s.checks, cid)
		s.notify(true)
	}
}

func (s *Server) updateTTL(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body struct{ Status, Output string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "Request decode failed: %v", err)
		return
	}
	switch body.Status {
	case api.HealthPassing, api.HealthWarning, api.HealthCritical:
	default:
		writeErr(w, http.StatusBadRequest, "Invalid status %q", body.Status)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.checks[id]
	if !ok {
		writeErr(w, http.StatusNotFound, "Unknown check ID %q", id)
		return
	}
	if c.ttl == 0 {
		writeErr(w, http.StatusInternalServerError, "CheckID %q does not have associated TTL", id)
		return
	}
	c.deadline = time.Now().Add(c.ttl)
	c.output = body.Output
	s.setStatus(c, body.Status)
}

// setStatus changes a check's status. s.mu held.
func (s *Server) setStatus(c *check, status string) {
	if c.status == status {
		return
	}
	c.status = status
	if status == api.HealthCritical {
		c.criticalSince = time.Now()
	}
	s.notify(true)
}

func (s *Server) runHTTP(c *check) {
	client := &http.Client{Timeout: c.interval}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		status := api.HealthCritical
		if resp, err := client.Get(c.http); err == nil {
			resp.Body.Close()
			switch {
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				status = api.HealthPassing
			case resp.StatusCode == http.StatusTooManyRequests:
				status = api.HealthWarning
			}
		}
		s.mu.Lock()
		select {
		case <-c.stop:
			s.mu.Unlock()
			return
		default:
		}
		s.setStatus(c, status)
		s.mu.Unlock()
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// reaper expires TTL checks and deregisters services critical for longer
// than their DeregisterCriticalServiceAfter.
func (s *Server) reaper() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Now()
		s.mu.Lock()
		for _, c := range s.checks {
			if c.ttl > 0 && now.After(c.deadline) && c.status != api.HealthCritical {
				c.output = "TTL expired"
				s.setStatus(c, api.HealthCritical)
			}
		}
		for _, c := range s.checks {
			if c.deregisterAfter > 0 && c.status == api.HealthCritical && now.Sub(c.criticalSince) > c.deregisterAfter {
				if _, ok := s.services[c.serviceID]; ok {
					s.removeService(c.serviceID)
				}
			}
		}
		s.mu.Unlock()
	}
}

func (s *Server) leader(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`"127.0.0.1:8300"`))
}

// health serves GET /v1/health/service/:name with ?passing, ?tag and
// blocking ?index=&wait= (default wait 5m, at most 10m, as in Consul).
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	s.healthQueries.Add(1)
	q := r.URL.Query()
	name := r.PathValue("name")
	var minIndex uint64
	if v := q.Get("index"); v != "" {
		var err error
		if minIndex, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeErr(w, http.StatusBadRequest, "Invalid index %q", v)
			return
		}
	}
	wait := 5 * time.Minute
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "Invalid wait time %q", v)
			return
		}
		wait = min(d, 10*time.Minute)
	}
	_, passingOnly := q["passing"]
	if v := q.Get("passing"); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			passingOnly = b
		}
	}
	tags := q["tag"]
	s.mu.Lock()
	s.indexes = append(s.indexes, minIndex)
	s.mu.Unlock()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		if minIndex == 0 || s.index > minIndex || s.noBlock {
			break
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
			continue
		case <-timeout.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		s.mu.Lock()
		break
	}
	entries := s.entries(name, passingOnly, tags)
	index := s.index
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(index, 10))
	w.Header().Set("X-Consul-KnownLeader", "true")
	w.Header().Set("X-Consul-LastContact", "0")
	_ = json.NewEncoder(w).Encode(entries)
}

// entries builds the answer. s.mu held.
func (s *Server) entries(name string, passingOnly bool, tags []string) []*api.ServiceEntry {
	out := []*api.ServiceEntry{}
	node := &api.Node{Node: s.node, Address: "127.0.0.1", Datacenter: s.datacenter}
	ids := make([]string, 0, len(s.services))
	for id, svc := range s.services {
		if svc.Name == name {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		svc := s.services[id]
		if !hasAll(svc.Tags, tags) {
			continue
		}
		checks := api.HealthChecks{{Node: s.node, CheckID: "serfHealth", Name: "Serf Health Status", Status: api.HealthPassing}}
		cids := []string{}
		for cid, c := range s.checks {
			if c.serviceID == id {
				cids = append(cids, cid)
			}
		}
		sort.Strings(cids)
		passing := true
		for _, cid := range cids {
			c := s.checks[cid]
			checks = append(checks, &api.HealthCheck{Node: s.node, CheckID: c.id, Name: c.name, Status: c.status,
				Output: c.output, ServiceID: id, ServiceName: svc.Name})
			if c.status != api.HealthPassing {
				passing = false
			}
		}
		if passingOnly && !passing {
			continue
		}
		out = append(out, &api.ServiceEntry{
			Node: node,
			Service: &api.AgentService{ID: svc.ID, Service: svc.Name, Tags: svc.Tags, Port: svc.Port,
				Address: svc.Address, Meta: svc.Meta, Datacenter: s.datacenter},
			Checks: checks,
		})
	}
	return out
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
