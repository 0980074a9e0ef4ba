package docs

import (
	"bufio"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	_ "github.com/wasmesh/wasmesh/brokers/memory"
	_ "github.com/wasmesh/wasmesh/discovery/static"
	"github.com/wasmesh/wasmesh/internal/telemetry"
	"github.com/wasmesh/wasmesh/meshtest/meshdtest"
)

// docRow is one metric row of a table in metrics.md.
type docRow struct {
	name, typ, source string
	line              int
}

var rowRe = regexp.MustCompile("^\\| `([a-z_<>*]+)` \\| ([a-z ,]+) \\| .* \\| `([a-z0-9_/.]+\\.go)` \\|$")

// readDoc parses the metric tables of metrics.md.
func readDoc(t *testing.T) map[string]docRow {
	t.Helper()
	f, err := os.Open("metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]docRow{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		m := rowRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if prev, dup := rows[m[1]]; dup {
			t.Errorf("metrics.md:%d: %s listed twice (first at line %d)", n, m[1], prev.line)
		}
		rows[m[1]] = docRow{name: m[1], typ: m[2], source: m[3], line: n}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 50 {
		t.Fatalf("metrics.md: parsed only %d metric rows; did the table format change?", len(rows))
	}
	return rows
}

// documented finds the row for a family name: exact, or a wildcard row
// (go_*, meshd_wasm_guest_<name>).
func documented(rows map[string]docRow, name string) (docRow, bool) {
	if r, ok := rows[name]; ok {
		return r, true
	}
	for k, r := range rows {
		i := strings.IndexAny(k, "*<")
		if i > 0 && strings.HasPrefix(name, k[:i]) {
			return r, true
		}
	}
	return docRow{}, false
}

// TestMetricsDocCoversMeshd runs a real meshd with traffic through a
// route, a discovery-fed cluster, a broker publish and an event append,
// scrapes /metrics, and checks every family it serves is in metrics.md
// with the right type.
func TestMetricsDocCoversMeshd(t *testing.T) {
	rows := readDoc(t)

	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })}
	go upSrv.Serve(up)
	defer upSrv.Close()
	host, port, _ := net.SplitHostPort(up.Addr().String())

	m := meshdtest.Start(t, `
admin: {address: 127.0.0.1:0}
logging: {access_log: false}
drain_grace: 1ms
eventlog: {backend: file, file: {dir: `+t.TempDir()+`}}
brokers:
  - {name: mem, type: memory}
registries:
  - name: fixed
    backend: static
    options:
      instances: [{service: api, id: api-1, address: `+host+`, port: `+port+`}]
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {match: {prefix: /v1/publish/}, publish: {}}
      - {match: {prefix: /v1/streams/}, events: {}}
      - {match: {prefix: /found}, cluster: found, timeout: 5s}
      - {match: {prefix: /}, cluster: api, timeout: 5s, retry: {attempts: 1}}
clusters:
  - name: api
    circuit_breaker: {max_requests: 100}
    endpoints: [{address: `+up.Addr().String()+`}]
  - name: found
    discovery: {backend: fixed, service: api}
`)
	admin := m.AdminAddr()
	base := m.URL("ingress")
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get(base + "/found")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("discovery-fed cluster never served: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range []string{"/x", "/y"} {
		resp, err := hc.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := hc.Post(base+"/v1/publish/mem/orders", "application/json", strings.NewReader(`{"id":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("publish: %s", resp.Status)
	}

	resp, err = hc.Post(base+"/v1/streams/order-1", "application/json", strings.NewReader(`{"type":"OrderPlaced"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("event append: %s", resp.Status)
	}

	resp, err = hc.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}

	// The scrape must reach every part this test configured, or the
	// check below proves less than it says.
	for _, want := range []string{"meshd_http_server_request_duration_seconds", "meshd_http_client_request_duration_seconds", "meshd_messaging_client_sent_messages_total", "meshd_messaging_client_operation_duration_seconds", "meshd_discovery_instances", "meshd_eventlog_append_duration_seconds", "meshd_eventlog_appends_total"} {
		if fams[want] == nil || len(fams[want].GetMetric()) == 0 {
			t.Errorf("/metrics has no %s series; the test's traffic did not reach that part", want)
		}
	}
	checkConventions(t, fams)
	for name, mf := range fams {
		r, ok := documented(rows, name)
		if !ok {
			t.Errorf("meshd serves %s (%s) but docs/metrics.md does not list it: add a row", name, mf.GetType())
			continue
		}
		if strings.ContainsAny(r.name, "*<") {
			continue
		}
		if want := strings.ToLower(mf.GetType().String()); !strings.Contains(r.typ, want) {
			t.Errorf("metrics.md:%d: %s is a %s, the doc says %q", r.line, name, want, r.typ)
		}
		if name != r.name {
			continue
		}
		checkLabels(t, r, mf)
	}
}

// checkConventions holds meshd's scrape to the rules of metrics.md's
// Conventions section: one prefix, and every duration histogram with an
// outcome label of two values and the shared buckets.
func checkConventions(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	histograms := 0
	for name, mf := range fams {
		if !strings.HasPrefix(name, "meshd_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("meshd serves %s: every family meshd serves starts with meshd_ (rule 1)", name)
		}
		if mf.GetType() != dto.MetricType_HISTOGRAM || !strings.HasSuffix(name, "_duration_seconds") {
			continue
		}
		histograms++
		for _, m := range mf.GetMetric() {
			switch o := label(m, telemetry.LabelOutcome); o {
			case telemetry.Success, telemetry.Error:
			default:
				t.Errorf("%s: series with outcome=%q, want %q or %q (rule 4)", name, o, telemetry.Success, telemetry.Error)
			}
			var bounds []float64
			for _, b := range m.GetHistogram().GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					bounds = append(bounds, b.GetUpperBound())
				}
			}
			if !slices.Equal(bounds, telemetry.LatencyBuckets) {
				t.Errorf("%s: buckets %v, want telemetry.LatencyBuckets (rule 5)", name, bounds)
			}
		}
	}
	if histograms < 2 {
		t.Errorf("only %d duration histograms on /metrics; the traffic should reach the HTTP server and client ones at least", histograms)
	}
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// checkLabels checks every label a served series carries is named in the
// doc row.
func checkLabels(t *testing.T, r docRow, mf *dto.MetricFamily) {
	t.Helper()
	line := docLine(t, r.line)
	seen := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if seen[lp.GetName()] {
				continue
			}
			seen[lp.GetName()] = true
			if !strings.Contains(line, "`"+lp.GetName()+"`") {
				t.Errorf("metrics.md:%d: %s has label %q, the doc row does not name it", r.line, r.name, lp.GetName())
			}
		}
	}
}

func docLine(t *testing.T, n int) string {
	t.Helper()
	b, err := os.ReadFile("metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if n-1 >= len(lines) {
		t.Fatalf("metrics.md has no line %d", n)
	}
	return lines[n-1]
}

// namespaced are prefixes the code builds from a namespace and subsystem
// (prometheus Opts or a helper), so the source holds only the tail.
var namespaced = []string{"meshd_messaging_", "meshd_discovery_", "meshd_audit_", "meshd_certificate_", "meshd_eventlog_", "wasmesh_eventlog_", "wasmesh_"}

// TestMetricsDocNamesExistInCode checks the other direction for parts a
// meshd scrape does not reach (SDK, event log, identity, xDS): every name
// in the doc still appears in the source file its row names.
func TestMetricsDocNamesExistInCode(t *testing.T) {
	for _, r := range readDoc(t) {
		b, err := os.ReadFile(filepath.Join("..", r.source))
		if err != nil {
			t.Errorf("metrics.md:%d: %s: emitted by %s, which cannot be read: %v", r.line, r.name, r.source, err)
			continue
		}
		code := string(b)
		name := r.name
		if strings.HasSuffix(name, "*") {
			// A whole collector's families (go_*, process_*): the source
			// registers the collector, not the names.
			continue
		}
		if i := strings.Index(name, "<"); i > 0 {
			name = name[:i]
		}
		found := strings.Contains(code, name)
		for _, p := range namespaced {
			if !found && strings.HasPrefix(name, p) {
				found = strings.Contains(code, strings.TrimPrefix(name, p)+`"`)
			}
		}
		if !found {
			t.Errorf("metrics.md:%d: %s is not in %s any more: fix the row", r.line, r.name, r.source)
		}
	}
}
