package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
)

// serve starts a real HTTP upstream with h and returns its address.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestTopOnce drives real traffic through a real dataplane — good
// requests, 5xx, a held request that fills a circuit breaker, and an
// endpoint that outlier detection ejects — and checks that one frame of
// meshctl top reports each of them.
func TestTopOnce(t *testing.T) {
	ok := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	bad := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	held := make(chan struct{})
	release := make(chan struct{})
	var heldOnce sync.Once
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) {
		heldOnce.Do(func() { close(held) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	src, err := conf.LoadBytes([]string{"t.yaml"}, [][]byte{[]byte(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {name: bad, match: {prefix: /bad}, cluster: bad, timeout: 5s}
      - {name: slow, match: {prefix: /slow}, cluster: slow, timeout: 30s}
      - {name: flaky, match: {prefix: /flaky}, cluster: flaky, timeout: 5s}
      - {name: api, match: {prefix: /}, cluster: api, timeout: 5s}
clusters:
  - name: api
    endpoints: [{address: ` + ok + `}]
  - name: bad
    endpoints: [{address: ` + bad + `}]
  - name: slow
    circuit_breaker: {max_requests: 1}
    endpoints: [{address: ` + slow + `}]
  - name: flaky
    outlier_detection: {consecutive_5xx: 3, interval: 50ms, base_ejection_time: 60s, max_ejection_percent: 50}
    endpoints: [{address: ` + ok + `}, {address: ` + bad + `}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	srv := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.Apply(src.Config, "top1"); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr("ingress")
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) {
		resp, err := hc.Get(base + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}

	// One request holds the slow cluster's only slot.
	go get("/slow")
	<-held
	defer close(release)

	// Traffic until flaky's bad endpoint is ejected.
	deadline := time.Now().Add(10 * time.Second)
	for {
		get("/flaky")
		var r clustersResp
		if err := (&cli{admin: admin, http: hc}).get("/clusters", &r); err != nil {
			t.Fatal(err)
		}
		if ejected(r, "flaky") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outlier detection never ejected flaky's bad endpoint: %+v", r)
		}
	}

	// Steady load for the whole time top samples.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []string{"/x", "/bad", "/slow"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				get(p)
			}
		}()
	}
	out, err := run(t, "top", "--once", "--interval", "300ms", "-o", "json", "--admin", admin)
	table, terr := run(t, "top", "--once", "--interval", "300ms", "--admin", admin)
	stop()
	wg.Wait()
	if err != nil || terr != nil {
		t.Fatalf("top: %v %v\n%s\n%s", err, terr, out, table)
	}

	var f topFrame
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("json frame: %v\n%s", err, out)
	}
	if f.ConfigVersion != "top1" || f.IntervalSeconds < 0.25 {
		t.Errorf("frame header: %+v", f)
	}
	routes := map[string]topRoute{}
	for _, r := range f.Routes {
		routes[r.Route] = r
	}
	if len(routes) != 4 {
		t.Errorf("routes: %+v, want bad, slow, flaky, api", f.Routes)
	}
	if r := routes["api"]; r.RequestsPerSecond <= 0 || r.ErrorRate != 0 || r.P50Seconds <= 0 || r.P99Seconds < r.P50Seconds || r.Listener != "ingress" {
		t.Errorf("api route: %+v, want traffic without errors and p50 <= p99", r)
	}
	if r := routes["bad"]; r.RequestsPerSecond <= 0 || r.ErrorRate != 1 {
		t.Errorf("bad route: %+v, want traffic, all 5xx", r)
	}
	if r := routes["flaky"]; r.Requests != 0 || r.RequestsPerSecond != 0 {
		t.Errorf("flaky route had no traffic in the interval: %+v", r)
	}
	clusters := map[string]topCluster{}
	for _, c := range f.Clusters {
		clusters[c.Name] = c
	}
	if c := clusters["api"]; c.RequestsPerSecond <= 0 || c.Endpoints != 1 || c.Healthy != 1 || c.Ejected != 0 || len(c.BreakersOpen) != 0 {
		t.Errorf("api cluster: %+v", c)
	}
	if c := clusters["bad"]; c.ErrorRate != 1 || c.Healthy != 1 {
		t.Errorf("bad cluster: %+v, want all upstream tries 5xx", c)
	}
	if c := clusters["slow"]; len(c.BreakersOpen) != 1 || c.BreakersOpen[0] != "max_requests" || c.Overflows <= 0 || c.ActiveRequests != 1 {
		t.Errorf("slow cluster: %+v, want max_requests open and the held request active", c)
	}
	if c := clusters["flaky"]; c.Endpoints != 2 || c.Healthy != 1 || c.Ejected != 1 {
		t.Errorf("flaky cluster: %+v, want 1 healthy, 1 ejected", c)
	}

	for _, want := range []string{"LISTENER", "ROUTE", "REQ/S", "P99", "CLUSTER", "BREAKERS OPEN", "config top1", "max_requests", "100.0%"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	t.Logf("meshctl top --once:\n%s", table)
	if strings.Contains(table, clearScreen) {
		t.Errorf("--once must not clear the screen:\n%q", table)
	}
	for _, line := range strings.Split(table, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) > 2 && fields[0] == "ingress" && fields[1] == "api":
			if fields[2] == "0.0" {
				t.Errorf("api route row shows no traffic: %q", line)
			}
		case len(fields) > 5 && fields[0] == "flaky":
			if fields[5] != "1/2" || fields[6] != "1" {
				t.Errorf("flaky row: %q, want 1/2 healthy and 1 ejected", line)
			}
		}
	}

	if _, err := run(t, "top", "--once", "--interval", "10ms", "--admin", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "cannot reach meshd") {
		t.Errorf("unreachable admin: %v", err)
	}
	if _, err := run(t, "top", "--once", "-o", "yaml", "--admin", admin); err == nil {
		t.Error("top -o yaml: want an error")
	}
}

func ejected(r clustersResp, name string) int {
	n := 0
	for _, c := range r.Clusters {
		if c.Name == name {
			for _, e := range c.Endpoints {
				if e.Ejected {
					n++
				}
			}
		}
	}
	return n
}

func TestBucketQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		q    float64
		bs   []bucketDelta
		want float64
	}{
		{"empty", .5, nil, 0},
		{"no observations", .99, []bucketDelta{{.1, 0}, {inf, 0}}, 0},
		{"first bucket interpolates from zero", .5, []bucketDelta{{.1, 10}, {inf, 10}}, .05},
		{"middle bucket", .5, []bucketDelta{{.1, 0}, {.2, 4}, {.4, 8}, {inf, 8}}, .2},
		{"interpolated within bucket", .75, []bucketDelta{{.1, 0}, {.2, 4}, {.4, 8}, {inf, 8}}, .3},
		{"rank in +Inf gives highest finite bound", .99, []bucketDelta{{.1, 1}, {.2, 2}, {inf, 10}}, .2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bucketQuantile(tt.q, tt.bs); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("got %g, want %g", got, tt.want)
			}
		})
	}
}

func TestCounterDelta(t *testing.T) {
	tests := []struct{ prev, cur, want float64 }{
		{0, 5, 5},
		{5, 5, 0},
		{5, 12, 7},
		{12, 3, 3}, // meshd restarted between polls
	}
	for _, tt := range tests {
		if got := counterDelta(tt.prev, tt.cur); got != tt.want {
			t.Errorf("counterDelta(%g, %g) = %g, want %g", tt.prev, tt.cur, got, tt.want)
		}
	}
}

// TestHistogramDeltas checks percentiles describe the interval only: the
// first poll's slow requests must not show in the second interval's p99.
func TestHistogramDeltas(t *testing.T) {
	parse := func(text string) *topSample {
		t.Helper()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return &topSample{families: fams}
	}
	const h = "# TYPE meshd_http_client_request_duration_seconds histogram\n"
	const ok, bad = `code_class="2xx",outcome="success"`, `code_class="5xx",outcome="error"`
	series := func(cluster, labels string, b01, b1, sum float64) string {
		l := `cluster="` + cluster + `",` + labels
		return fmt.Sprintf("meshd_http_client_request_duration_seconds_bucket{%s,le=\"0.01\"} %g\n", l, b01) +
			fmt.Sprintf("meshd_http_client_request_duration_seconds_bucket{%s,le=\"1\"} %g\n", l, b1) +
			fmt.Sprintf("meshd_http_client_request_duration_seconds_bucket{%s,le=\"+Inf\"} %g\n", l, b1) +
			fmt.Sprintf("meshd_http_client_request_duration_seconds_sum{%s} %g\n", l, sum) +
			fmt.Sprintf("meshd_http_client_request_duration_seconds_count{%s} %g\n", l, b1)
	}
	prev := parse(h + series("a", ok, 0, 100, 50) + series("a", bad, 0, 4, 2))
	cur := parse(h + series("a", ok, 10, 110, 50.05) + series("a", bad, 0, 4, 2) + series("a", `code_class="0xx",outcome="error"`, 0, 2, 1) +
		series("new", ok, 0, 2, 1))
	d := histogramDeltas(prev, cur, mClusterDuration, "cluster")
	if got := bucketQuantile(.99, d["a"].buckets); got <= .01 {
		t.Errorf("a: p99 %g over the interval, want > 0.01 (the 2 new failed tries were slow)", got)
	}
	if got := bucketQuantile(.5, d["a"].buckets); got > .01 {
		t.Errorf("a: p50 %g over the interval, want <= 0.01 (10 of 12 new tries were fast)", got)
	}
	if d["a"].total != 12 || d["a"].errs != 2 {
		t.Errorf("a: %g tries, %g errors in the interval, want 12 and 2 (series summed, each diffed against itself)", d["a"].total, d["a"].errs)
	}
	if got := d["a"].buckets[len(d["a"].buckets)-1].count; got != 12 {
		t.Errorf("a: +Inf bucket %g, want 12", got)
	}
	if got := bucketQuantile(.5, d["new"].buckets); got <= .01 || got > 1 {
		t.Errorf("new: p50 %g, want in (0.01, 1] (a series absent from the first poll counts from zero)", got)
	}
	// A series whose count went down (restart) takes the second poll as
	// its interval; a series that did not move adds nothing.
	d = histogramDeltas(cur, prev, mClusterDuration, "cluster")
	if d["a"].total != 100 || d["a"].errs != 0 {
		t.Errorf("after a reset: %g tries, %g errors, want 100 and 0", d["a"].total, d["a"].errs)
	}
}

// frameCounter counts live frames (each starts by clearing the screen) and
// cancels the run after want of them.
type frameCounter struct {
	mu     sync.Mutex
	buf    strings.Builder
	frames int
	want   int
	cancel context.CancelFunc
}

func (f *frameCounter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf.Write(p)
	f.frames += strings.Count(string(p), clearScreen)
	if f.frames >= f.want {
		f.cancel()
	}
	return len(p), nil
}

// TestTopLive checks the live view redraws frame after frame (clearing the
// screen each time) until it is interrupted, and that a route's traffic
// shows in a later frame.
func TestTopLive(t *testing.T) {
	up := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	src, err := conf.LoadBytes([]string{"t.yaml"}, [][]byte{[]byte(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, cluster: api, timeout: 5s}]
clusters:
  - {name: api, endpoints: [{address: ` + up + `}]}
`)})
	if err != nil {
		t.Fatal(err)
	}
	srv := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.Apply(src.Config, "live"); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if resp, err := http.Get("http://" + srv.Addr("ingress") + "/"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	out := &frameCounter{want: 3, cancel: cancel}
	c := &cli{admin: admin, output: "table", out: out, errOut: io.Discard, http: &http.Client{Timeout: 5 * time.Second}}
	if err := c.top(ctx, 50*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.frames < 3 {
		t.Fatalf("%d frames before the deadline, want 3:\n%s", out.frames, out.buf.String())
	}
	// Some redrawn frame (the last may be cut short by the cancel) shows
	// the route with traffic.
	frames := strings.Split(out.buf.String(), clearScreen)
	for _, fr := range frames[1:] {
		for _, line := range strings.Split(fr, "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == "ingress" && f[1] == "ingress-0" && f[2] != "0.0" {
				return
			}
		}
	}
	t.Errorf("no redrawn frame shows the route with traffic:\n%s", out.buf.String())
}
