package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
)

// Metric families meshctl top reads from /metrics. They are defined in
// dataplane/internal/stats; docs/metrics.md describes them.
const (
	mRouteDuration   = "meshd_http_server_request_duration_seconds"
	mClusterDuration = "meshd_http_client_request_duration_seconds"
	mClusterOverflow = "meshd_cluster_upstream_overflow_total"
)

// topFrame is one screen of meshctl top: rates over the interval between
// two polls of the admin API. Its JSON is what -o json prints.
type topFrame struct {
	At              time.Time    `json:"at"`
	IntervalSeconds float64      `json:"interval_seconds"`
	Version         string       `json:"version,omitempty"`
	ConfigVersion   string       `json:"config_version,omitempty"`
	State           string       `json:"state,omitempty"`
	Routes          []topRoute   `json:"routes"`
	Clusters        []topCluster `json:"clusters"`
}

// topTraffic is what routes and clusters share: counts and latency over
// the interval. Latencies are NaN-free: 0 when the interval saw nothing.
type topTraffic struct {
	Requests          float64 `json:"requests"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	ErrorRate         float64 `json:"error_rate"` // share with outcome="error" (5xx, no response, gRPC server fault) in [0,1]
	P50Seconds        float64 `json:"p50_seconds"`
	P99Seconds        float64 `json:"p99_seconds"`
}

type topRoute struct {
	Listener string `json:"listener"`
	Route    string `json:"route"`
	topTraffic
}

type topCluster struct {
	Name string `json:"name"`
	topTraffic
	Endpoints      int      `json:"endpoints"`
	Healthy        int      `json:"healthy"`
	Ejected        int      `json:"ejected"`
	ActiveRequests int64    `json:"active_requests"`
	BreakersOpen   []string `json:"breakers_open"` // limits that refused requests in the interval
	Overflows      float64  `json:"overflows"`
}

// topSample is one poll: the parsed /metrics plus the JSON endpoints that
// carry state the metrics do not (which routes and clusters are in force,
// per-endpoint health).
type topSample struct {
	at       time.Time
	families map[string]*dto.MetricFamily
	routes   routesResp
	clusters clustersResp
	info     struct {
		Version       string `json:"version"`
		State         string `json:"state"`
		ConfigVersion string `json:"config_version"`
	}
}

func (c *cli) topCmd() *cobra.Command {
	var (
		interval time.Duration
		once     bool
	)
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Live view of a running meshd: per route and cluster rate, latency, errors, endpoints, breakers",
		Long: `top polls meshd's admin API every --interval and shows, for the interval
between two polls: requests per second, p50/p99 latency (from the histogram
buckets of that interval only), 5xx share, and per cluster the endpoints
healthy and ejected and the circuit-breaker limits that refused requests.
--once prints one frame (two polls an interval apart) and exits; -o json
prints each frame as one JSON object per line. Ctrl-C stops the live view.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return fmt.Errorf("--interval must be positive, got %s", interval)
			}
			switch c.output {
			case "table", "", "json":
			default:
				return fmt.Errorf("unknown output %q for top: use table or json", c.output)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
			defer stop()
			return c.top(ctx, interval, once)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between polls; rates are over this interval")
	cmd.Flags().BoolVar(&once, "once", false, "print one frame and exit (for scripts)")
	return cmd
}

func (c *cli) top(ctx context.Context, interval time.Duration, once bool) error {
	prev, err := c.sample()
	if err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur, err := c.sample()
		if err != nil {
			if once {
				return err
			}
			// Keep watching through a meshd restart; say why the screen froze.
			fmt.Fprintf(c.errOut, "meshctl top: %v\n", err)
			continue
		}
		f := buildFrame(prev, cur)
		prev = cur
		if err := c.renderFrame(f, !once); err != nil {
			return err
		}
		if once {
			return nil
		}
	}
}

func (c *cli) sample() (*topSample, error) {
	s := &topSample{}
	if err := c.get("/server_info", &s.info); err != nil {
		return nil, err
	}
	if err := c.get("/routes", &s.routes); err != nil {
		return nil, err
	}
	if err := c.get("/clusters", &s.clusters); err != nil {
		return nil, err
	}
	resp, err := c.http.Get("http://" + c.admin + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("cannot reach meshd admin API at %s: %w", c.admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("/metrics: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	s.at = time.Now()
	p := expfmt.NewTextParser(model.UTF8Validation)
	s.families, err = p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return s, nil
}

// seriesKey joins the values of the named labels, for matching series
// across two polls.
func seriesKey(m *dto.Metric, names ...string) string {
	vals := make([]string, len(names))
	for _, lp := range m.GetLabel() {
		for i, n := range names {
			if lp.GetName() == n {
				vals[i] = lp.GetValue()
			}
		}
	}
	return strings.Join(vals, "\x00")
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// counterDelta is cur-prev, or cur when the counter went backwards (meshd
// restarted between the polls), as Prometheus' rate() treats resets.
func counterDelta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// bucketDelta is one histogram bucket's count within the interval.
type bucketDelta struct {
	upper float64
	count float64 // cumulative
}

// histDelta is one key's share of a histogram family over the interval:
// cumulative bucket counts, observations, and those with outcome="error".
type histDelta struct {
	buckets     []bucketDelta
	total, errs float64
}

// histogramDeltas returns, by key, the interval's cumulative bucket counts
// (cur minus prev per bucket), so percentiles describe the interval, not
// the life of the process, with the observation and error counts. Series
// that differ in other labels (code_class, outcome) are summed into their
// key, each diffed against its own previous value first.
func histogramDeltas(prev, cur *topSample, family string, keyLabels ...string) map[string]*histDelta {
	before := map[string]*dto.Histogram{}
	if mf := prev.families[family]; mf != nil {
		for _, m := range mf.GetMetric() {
			before[allLabels(m)] = m.GetHistogram()
		}
	}
	out := map[string]*histDelta{}
	mf := cur.families[family]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		p := before[allLabels(m)]
		reset := p != nil && p.GetSampleCount() > h.GetSampleCount()
		old := map[float64]float64{}
		if p != nil && !reset {
			for _, b := range p.GetBucket() {
				old[b.GetUpperBound()] = float64(b.GetCumulativeCount())
			}
		}
		var bs []bucketDelta
		for _, b := range h.GetBucket() {
			bs = append(bs, bucketDelta{upper: b.GetUpperBound(), count: max(float64(b.GetCumulativeCount())-old[b.GetUpperBound()], 0)})
		}
		n := float64(h.GetSampleCount())
		if p != nil && !reset {
			n -= float64(p.GetSampleCount())
		}
		n = max(n, 0)
		// The text format may omit +Inf from the bucket list; the sample
		// count is its cumulative count.
		if len(bs) == 0 || !math.IsInf(bs[len(bs)-1].upper, 1) {
			bs = append(bs, bucketDelta{upper: math.Inf(1), count: n})
		}
		sort.Slice(bs, func(i, j int) bool { return bs[i].upper < bs[j].upper })
		k := seriesKey(m, keyLabels...)
		d := out[k]
		if d == nil {
			d = &histDelta{}
			out[k] = d
		}
		d.total += n
		if label(m, "outcome") == "error" {
			d.errs += n
		}
		d.buckets = addBuckets(d.buckets, bs)
	}
	return out
}

// allLabels identifies one series by every label pair, in the order the
// parser gives (sorted by name).
func allLabels(m *dto.Metric) string {
	var b strings.Builder
	for _, lp := range m.GetLabel() {
		b.WriteString(lp.GetName())
		b.WriteByte(0)
		b.WriteString(lp.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

// addBuckets sums two cumulative bucket lists with the same bounds (one
// family has one set of buckets); an empty list takes the other as is.
func addBuckets(sum, bs []bucketDelta) []bucketDelta {
	if len(sum) == 0 {
		return append([]bucketDelta(nil), bs...)
	}
	for i := range sum {
		if i < len(bs) && bs[i].upper == sum[i].upper {
			sum[i].count += bs[i].count
		}
	}
	return sum
}

// bucketQuantile estimates quantile q from cumulative buckets by linear
// interpolation within the bucket holding the rank, as Prometheus'
// histogram_quantile does; a rank in the +Inf bucket gives the highest
// finite bound. No observations give 0.
func bucketQuantile(q float64, bs []bucketDelta) float64 {
	if len(bs) == 0 {
		return 0
	}
	total := bs[len(bs)-1].count
	if total == 0 {
		return 0
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.upper, 1) {
				return prevBound
			}
			if b.count == prevCount {
				return b.upper
			}
			return prevBound + (b.upper-prevBound)*(rank-prevCount)/(b.count-prevCount)
		}
		prevBound, prevCount = b.upper, b.count
	}
	return prevBound
}

func traffic(d *histDelta, dt float64) topTraffic {
	if d == nil {
		return topTraffic{}
	}
	total, errs := d.total, d.errs
	t := topTraffic{Requests: total, P50Seconds: bucketQuantile(.5, d.buckets), P99Seconds: bucketQuantile(.99, d.buckets)}
	if dt > 0 {
		t.RequestsPerSecond = total / dt
	}
	if total > 0 {
		t.ErrorRate = errs / total
	}
	return t
}

// buildFrame computes one frame from two polls. Routes and clusters are
// those in force at the second poll (series of routes removed by a reload
// linger in /metrics and are left out).
func buildFrame(prev, cur *topSample) topFrame {
	dt := cur.at.Sub(prev.at).Seconds()
	f := topFrame{At: cur.at.UTC(), IntervalSeconds: dt, Version: cur.info.Version, ConfigVersion: cur.info.ConfigVersion, State: cur.info.State,
		Routes: []topRoute{}, Clusters: []topCluster{}}

	rHist := histogramDeltas(prev, cur, mRouteDuration, "listener", "route")
	for _, r := range cur.routes.Routes {
		k := r.Listener + "\x00" + r.Name
		f.Routes = append(f.Routes, topRoute{Listener: r.Listener, Route: r.Name, topTraffic: traffic(rHist[k], dt)})
	}
	sort.SliceStable(f.Routes, func(i, j int) bool {
		if f.Routes[i].Listener != f.Routes[j].Listener {
			return f.Routes[i].Listener < f.Routes[j].Listener
		}
		return f.Routes[i].Route < f.Routes[j].Route
	})

	cHist := histogramDeltas(prev, cur, mClusterDuration, "cluster")
	overflow := map[string]map[string]float64{}
	before := map[string]float64{}
	if mf := prev.families[mClusterOverflow]; mf != nil {
		for _, m := range mf.GetMetric() {
			before[seriesKey(m, "cluster", "limit")] = m.GetCounter().GetValue()
		}
	}
	if mf := cur.families[mClusterOverflow]; mf != nil {
		for _, m := range mf.GetMetric() {
			d := counterDelta(before[seriesKey(m, "cluster", "limit")], m.GetCounter().GetValue())
			if d > 0 {
				cl := label(m, "cluster")
				if overflow[cl] == nil {
					overflow[cl] = map[string]float64{}
				}
				overflow[cl][label(m, "limit")] = d
			}
		}
	}
	for _, cl := range cur.clusters.Clusters {
		tc := topCluster{Name: cl.Name, topTraffic: traffic(cHist[cl.Name], dt),
			Endpoints: len(cl.Endpoints), ActiveRequests: cl.ActiveRequests, BreakersOpen: []string{}}
		for _, e := range cl.Endpoints {
			if e.Healthy && !e.Ejected {
				tc.Healthy++
			}
			if e.Ejected {
				tc.Ejected++
			}
		}
		for limit, d := range overflow[cl.Name] {
			tc.BreakersOpen = append(tc.BreakersOpen, limit)
			tc.Overflows += d
		}
		sort.Strings(tc.BreakersOpen)
		f.Clusters = append(f.Clusters, tc)
	}
	sort.SliceStable(f.Clusters, func(i, j int) bool { return f.Clusters[i].Name < f.Clusters[j].Name })
	return f
}

// clearScreen moves the cursor home and clears the terminal (ANSI), so a
// live frame replaces the last one without a TUI library.
const clearScreen = "\x1b[H\x1b[2J"

func (c *cli) renderFrame(f topFrame, live bool) error {
	if c.output == "json" {
		return json.NewEncoder(c.out).Encode(f)
	}
	var b strings.Builder
	if live {
		b.WriteString(clearScreen)
	}
	fmt.Fprintf(&b, "meshd %s  %s  config %s  %s  (rates over %.1fs)\n\n", c.admin, dash(f.State), dash(f.ConfigVersion), f.At.Format(time.TimeOnly), f.IntervalSeconds)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "LISTENER\tROUTE\tREQ/S\tP50\tP99\tERRORS")
	for _, r := range f.Routes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Listener, r.Route, rate(r.RequestsPerSecond), latency(r.topTraffic, r.P50Seconds), latency(r.topTraffic, r.P99Seconds), errRate(r.topTraffic))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tREQ/S\tP50\tP99\tERRORS\tHEALTHY\tEJECTED\tACTIVE\tBREAKERS OPEN")
	for _, cl := range f.Clusters {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%s\n", cl.Name, rate(cl.RequestsPerSecond), latency(cl.topTraffic, cl.P50Seconds), latency(cl.topTraffic, cl.P99Seconds), errRate(cl.topTraffic),
			cl.Healthy, cl.Endpoints, cl.Ejected, cl.ActiveRequests, dash(strings.Join(cl.BreakersOpen, ",")))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(c.out, b.String())
	return err
}

func rate(v float64) string { return fmt.Sprintf("%.1f", v) }

func latency(t topTraffic, v float64) string {
	if t.Requests == 0 {
		return "-"
	}
	d := time.Duration(v * float64(time.Second))
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

func errRate(t topTraffic) string {
	if t.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", t.ErrorRate*100)
}
