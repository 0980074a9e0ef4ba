package upstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane/internal/stats"
	"github.com/wasmesh/wasmesh/dataplane/lb"
	"github.com/wasmesh/wasmesh/internal/telemetry"
)

// Overflow reasons, as written in the x-meshd-overflow response header and
// the overflow metric's limit label.
const (
	OverflowRequests    = "max_requests"
	OverflowPending     = "max_pending"
	OverflowConnections = "max_connections"
	OverflowRetries     = "max_retries"
	OverflowBudget      = "retry_budget"
)

// Cluster is a cluster's runtime: hosts, picker, breaker and metrics.
type Cluster struct {
	Name  string
	Def   conf.Cluster
	Hosts []*Host

	picker lb.Picker
	key    string
	// lbDirty wakes the goroutine that rebuilds the picker's table (ring
	// hash, Maglev) after a host's availability changed; it holds at most
	// one wake-up, since one rebuild covers every change before it.
	lbDirty chan struct{}
	lbPanic bool // last panic state seen by refreshLB, for its log lines

	// RT carries HTTP/2 downstream requests, and every request to an
	// HTTP/2 (or gRPC) cluster.
	RT http.RoundTripper
	// HTTP2 is true when the upstreams speak HTTP/2.
	HTTP2 bool
	// TLS is set when meshd connects to the upstreams over TLS.
	TLS *tls.Config

	active  atomic.Int64
	pending atomic.Int64
	retries atomic.Int64

	M Metrics

	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger
}

// Metrics are the cluster's counters, resolved once.
type Metrics struct {
	Duration     *telemetry.ClassHistogram
	Retries      prometheus.Counter
	Overflow     map[string]prometheus.Counter
	TimeoutTry   prometheus.Counter
	TimeoutTotal prometheus.Counter
	ErrConnect   prometheus.Counter
	ErrReset     prometheus.Counter
	Active       prometheus.Gauge
	Ejections    prometheus.Counter
	// LBPanic is 1 while a ring_hash or maglev table spans every endpoint
	// because too few are available.
	LBPanic   prometheus.Gauge
	endpoints [3]prometheus.Gauge
	hcPass    prometheus.Counter
	hcFail    prometheus.Counter
}

func newMetrics(s *stats.Stats, name string) Metrics {
	m := Metrics{
		Duration:     telemetry.NewClassHistogram(s.UpstreamDuration, name),
		Retries:      s.UpstreamRetries.WithLabelValues(name),
		Overflow:     map[string]prometheus.Counter{},
		TimeoutTry:   s.UpstreamTimeouts.WithLabelValues(name, "per_try"),
		TimeoutTotal: s.UpstreamTimeouts.WithLabelValues(name, "total"),
		ErrConnect:   s.UpstreamErrors.WithLabelValues(name, "connect"),
		ErrReset:     s.UpstreamErrors.WithLabelValues(name, "reset"),
		Active:       s.UpstreamActive.WithLabelValues(name),
		Ejections:    s.UpstreamEjections.WithLabelValues(name),
		LBPanic:      s.LBPanic.WithLabelValues(name),
		hcPass:       s.HealthChecks.WithLabelValues(name, "pass"),
		hcFail:       s.HealthChecks.WithLabelValues(name, "fail"),
	}
	for _, r := range []string{OverflowRequests, OverflowPending, OverflowConnections, OverflowRetries, OverflowBudget} {
		m.Overflow[r] = s.UpstreamOverflow.WithLabelValues(name, r)
	}
	for i, st := range []string{"healthy", "unhealthy", "ejected"} {
		m.endpoints[i] = s.Endpoints.WithLabelValues(name, st)
	}
	return m
}

func defKey(def conf.Cluster) string {
	b, _ := json.Marshal(def)
	return string(b)
}

// Pick chooses a host for a request. exclude, when set, is avoided if
// another host can be had (Envoy's previous-hosts retry predicate).
func (c *Cluster) Pick(hash uint64, exclude *Host) *Host {
	i := c.picker.Pick(hash)
	if i < 0 {
		return nil
	}
	if exclude != nil && c.Hosts[i] == exclude && len(c.Hosts) > 1 {
		for range 3 {
			j := c.picker.Pick(hash + 1)
			if j >= 0 && c.Hosts[j] != exclude && c.Hosts[j].Available() {
				return c.Hosts[j]
			}
			hash = hash*31 + 7
		}
	}
	return c.Hosts[i]
}

// Admit applies the max_requests breaker. On true, Done must follow.
func (c *Cluster) Admit() (ok bool, reason string) {
	if n := c.active.Add(1); n > int64(c.Def.CircuitBreaker.MaxRequests) {
		c.active.Add(-1)
		c.M.Overflow[OverflowRequests].Inc()
		return false, OverflowRequests
	}
	c.M.Active.Inc()
	return true, ""
}

// Done ends a request admitted by Admit.
func (c *Cluster) Done() {
	c.active.Add(-1)
	c.M.Active.Dec()
}

// AdmitTry applies the connection and pending limits before a try on h:
// when the host's pool is full the request would wait for a connection,
// and only max_pending requests may wait at once.
func (c *Cluster) AdmitTry(h *Host) (ok bool, reason string, waiting bool) {
	if h.Client.ConnsCount() < h.Client.MaxConns {
		return true, "", false
	}
	if n := c.pending.Add(1); n > int64(c.Def.CircuitBreaker.MaxPending) {
		c.pending.Add(-1)
		c.M.Overflow[OverflowPending].Inc()
		return false, OverflowPending, false
	}
	return true, "", true
}

// TryDone ends a try that AdmitTry said was waiting.
func (c *Cluster) TryDone(waiting bool) {
	if waiting {
		c.pending.Add(-1)
	}
}

// AdmitRetry applies max_retries and the retry budget. On true, RetryDone
// must follow when the retry ends.
func (c *Cluster) AdmitRetry() (ok bool, reason string) {
	n := c.retries.Add(1)
	if n > int64(c.Def.CircuitBreaker.MaxRetries) {
		c.retries.Add(-1)
		c.M.Overflow[OverflowRetries].Inc()
		return false, OverflowRetries
	}
	b := c.Def.RetryBudget
	allowed := int64(float64(c.active.Load()) * b.Percent / 100)
	if allowed < int64(b.MinConcurrency) {
		allowed = int64(b.MinConcurrency)
	}
	if n > allowed {
		c.retries.Add(-1)
		c.M.Overflow[OverflowBudget].Inc()
		return false, OverflowBudget
	}
	c.M.Retries.Inc()
	return true, ""
}

// RetryDone ends a retry admitted by AdmitRetry.
func (c *Cluster) RetryDone() { c.retries.Add(-1) }

// Outcome of one try, for outlier detection.
type Outcome int

// Outcomes a try can have.
const (
	OutcomeOK Outcome = iota
	Outcome5xx
	OutcomeGatewayError // 502/503/504, connect failure, reset, timeout
)

// Record feeds one try's outcome to the host's counters and to outlier
// detection.
func (c *Cluster) Record(h *Host, o Outcome) {
	h.requests.Add(1)
	if o == OutcomeOK {
		if h.consec5xx.Load() != 0 {
			h.consec5xx.Store(0)
		}
		if h.consecGW.Load() != 0 {
			h.consecGW.Store(0)
		}
		return
	}
	h.failures.Add(1)
	od := c.Def.OutlierDetection
	if od == nil {
		return
	}
	n5 := h.consec5xx.Add(1)
	var ngw int32
	if o == OutcomeGatewayError {
		ngw = h.consecGW.Add(1)
	}
	if (od.Consecutive5xx > 0 && int(n5) >= od.Consecutive5xx) || (od.ConsecutiveGatewayError > 0 && int(ngw) >= od.ConsecutiveGatewayError) {
		c.eject(h)
	}
}

func (c *Cluster) eject(h *Host) {
	od := c.Def.OutlierDetection
	limit := len(c.Hosts) * od.MaxEjectionPercent / 100
	if limit < 1 {
		limit = 1
	}
	ejected := 0
	for _, o := range c.Hosts {
		if o.ejected.Load() {
			ejected++
		}
	}
	if ejected >= limit || !h.ejected.CompareAndSwap(false, true) {
		return
	}
	mult := h.ejections.Add(1)
	h.ejectUntil.Store(time.Now().Add(time.Duration(mult) * od.BaseEjectionTime.D()).UnixNano())
	h.consec5xx.Store(0)
	h.consecGW.Store(0)
	c.M.Ejections.Inc()
	c.log.Warn("endpoint ejected", "cluster", c.Name, "endpoint", h.Addr, "for", time.Duration(mult)*od.BaseEjectionTime.D())
	c.availabilityChanged()
}

// availabilityChanged asks for the picker's table to be rebuilt. It never
// blocks, so it is safe on the request path (Record ejects there).
func (c *Cluster) availabilityChanged() {
	select {
	case c.lbDirty <- struct{}{}:
	default:
	}
}

// panicThreshold is the cluster's lb_panic_threshold, or Envoy's default.
func (c *Cluster) panicThreshold() int {
	if p := c.Def.LBPanicThreshold; p != nil {
		return *p
	}
	return lb.DefaultPanicThreshold
}

// refreshLB rebuilds the picker's table over the available hosts, or over
// all of them below the panic threshold. It runs in Build and then only in
// rebalance, so lbPanic needs no lock.
func (c *Cluster) refreshLB() {
	r := lb.Refresh(c.picker, c.panicThreshold())
	if r.Panic {
		c.M.LBPanic.Set(1)
	} else {
		c.M.LBPanic.Set(0)
	}
	if r.Panic != c.lbPanic {
		c.lbPanic = r.Panic
		if r.Panic {
			c.log.Warn("load balancer in panic mode: too few endpoints available, hashing over all of them", "cluster", c.Name, "available", r.Available, "total", r.Total, "threshold_percent", c.panicThreshold())
		} else {
			c.log.Info("load balancer left panic mode", "cluster", c.Name, "available", r.Available, "total", r.Total)
		}
	}
}

// rebalance rebuilds the picker's table off the request path whenever a
// host's availability changed.
func (c *Cluster) rebalance(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.lbDirty:
			c.refreshLB()
		}
	}
}

func (c *Cluster) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	c.cancel = cancel
	c.wg.Add(2)
	go c.maintain(ctx)
	go c.rebalance(ctx)
	// Hosts kept from the previous cluster may have changed state since
	// Build: rebuild once more now that this cluster owns them.
	c.availabilityChanged()
	if hc := c.Def.HealthCheck; hc != nil {
		for _, h := range c.Hosts {
			c.wg.Add(1)
			go c.healthLoop(ctx, h, hc)
		}
	}
}

func (c *Cluster) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
}

// maintain unejects hosts whose time is up, decays ejection multipliers
// and refreshes the endpoint gauges.
func (c *Cluster) maintain(ctx context.Context) {
	defer c.wg.Done()
	period := time.Second
	if od := c.Def.OutlierDetection; od != nil && od.Interval.D() < period {
		period = od.Interval.D()
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		c.refreshGauges()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		for _, h := range c.Hosts {
			if h.ejected.Load() {
				if now >= h.ejectUntil.Load() {
					h.ejected.Store(false)
					c.log.Info("endpoint returned from ejection", "cluster", c.Name, "endpoint", h.Addr)
					c.availabilityChanged()
				}
			} else if m := h.ejections.Load(); m > 0 && now-h.ejectUntil.Load() > int64(c.Def.OutlierDetection.BaseEjectionTime.D()) {
				h.ejections.CompareAndSwap(m, m-1)
			}
		}
	}
}

func (c *Cluster) refreshGauges() {
	var n [3]int
	for _, h := range c.Hosts {
		switch {
		case h.ejected.Load():
			n[2]++
		case h.unhealthy.Load():
			n[1]++
		default:
			n[0]++
		}
	}
	for i := range n {
		c.M.endpoints[i].Set(float64(n[i]))
	}
}

func (c *Cluster) healthLoop(ctx context.Context, h *Host, hc *conf.HealthCheck) {
	defer c.wg.Done()
	chk, err := newChecker(c, h, hc)
	if err != nil {
		c.log.Error("health checker not started", "cluster", c.Name, "endpoint", h.Addr, "error", err)
		return
	}
	defer chk.close()
	t := time.NewTicker(hc.Interval.D())
	defer t.Stop()
	for {
		err := chk.check(ctx, hc.Timeout.D())
		if err == nil {
			c.M.hcPass.Inc()
			h.hcFails = 0
			h.hcPasses++
			if h.unhealthy.Load() && h.hcPasses >= hc.HealthyThreshold {
				h.unhealthy.Store(false)
				c.log.Info("endpoint healthy", "cluster", c.Name, "endpoint", h.Addr)
				c.availabilityChanged()
			}
		} else if ctx.Err() == nil {
			c.M.hcFail.Inc()
			h.hcPasses = 0
			h.hcFails++
			if !h.unhealthy.Load() && h.hcFails >= hc.UnhealthyThreshold {
				h.unhealthy.Store(true)
				c.log.Warn("endpoint unhealthy", "cluster", c.Name, "endpoint", h.Addr, "reason", err.Error())
				c.availabilityChanged()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Active is the number of requests in flight to the cluster.
func (c *Cluster) Active() int64 { return c.active.Load() }
