package wasm

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/abi"
)

// histogram bucket bounds for guest histograms (values are whatever unit the
// guest records, typically milliseconds or bytes).
var histBounds = []int64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

type guestMetric struct {
	name    string
	kind    uint32
	value   atomic.Int64 // counter / gauge; histogram sum
	count   atomic.Int64 // histogram
	buckets []atomic.Int64
}

type hostCounters struct {
	calls     atomic.Int64
	failures  [4]atomic.Int64 // by failReason
	replaced  atomic.Int64
	vms       atomic.Int64
	httpCalls atomic.Int64
}

type metrics struct {
	mu     sync.RWMutex
	byName map[string]uint32
	list   []*guestMetric // id-1
	hosts  map[string]*hostCounters
}

func newMetrics() *metrics {
	return &metrics{byName: make(map[string]uint32), hosts: make(map[string]*hostCounters)}
}

func (m *metrics) define(kind uint32, name string) (uint32, abi.Status) {
	if kind > abi.MetricHistogram {
		return 0, abi.StatusBadArgument
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byName[name]; ok {
		if m.list[id-1].kind != kind {
			return 0, abi.StatusBadArgument
		}
		return id, abi.StatusOK
	}
	g := &guestMetric{name: name, kind: kind}
	if kind == abi.MetricHistogram {
		g.buckets = make([]atomic.Int64, len(histBounds))
	}
	m.list = append(m.list, g)
	id := uint32(len(m.list))
	m.byName[name] = id
	return id, abi.StatusOK
}

func (m *metrics) get(id uint32) *guestMetric {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if id == 0 || int(id) > len(m.list) {
		return nil
	}
	return m.list[id-1]
}

func (m *metrics) host(plugin string) *hostCounters {
	m.mu.RLock()
	h := m.hosts[plugin]
	m.mu.RUnlock()
	if h != nil {
		return h
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h = m.hosts[plugin]; h == nil {
		h = &hostCounters{}
		m.hosts[plugin] = h
	}
	return h
}

func (g *guestMetric) record(v int64) {
	switch g.kind {
	case abi.MetricHistogram:
		g.value.Add(v)
		g.count.Add(1)
		for i, b := range histBounds {
			if v <= b {
				g.buckets[i].Add(1)
			}
		}
	default:
		g.value.Store(v)
	}
}

// promName turns a guest metric name (Envoy style, dotted) into a
// Prometheus name.
func promName(s string) string {
	var b strings.Builder
	b.WriteString("meshd_wasm_guest_")
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// MetricValue returns a guest metric's current value (a histogram's sum) by
// the name the guest defined it with.
func (r *Runtime) MetricValue(name string) (int64, bool) {
	r.metrics.mu.RLock()
	id, ok := r.metrics.byName[name]
	r.metrics.mu.RUnlock()
	if !ok {
		return 0, false
	}
	return r.metrics.get(id).value.Load(), true
}

// WritePrometheus writes the host's and the guests' metrics in Prometheus
// text format, for the admin /metrics endpoint:
//
//	meshd_wasm_calls_total{plugin}            calls into guests
//	meshd_wasm_vm_failures_total{plugin,reason} trap|deadline|memory|exit
//	meshd_wasm_vm_replacements_total{plugin}  VMs rebuilt after a failure
//	meshd_wasm_vms{plugin}                    live VMs
//	meshd_wasm_http_calls_total{plugin}       proxy_http_call dispatched
//	meshd_wasm_guest_<name>                   every proxy_define_metric
func (r *Runtime) WritePrometheus(w io.Writer) error {
	m := r.metrics
	m.mu.RLock()
	plugins := make([]string, 0, len(m.hosts))
	for p := range m.hosts {
		plugins = append(plugins, p)
	}
	guests := append([]*guestMetric(nil), m.list...)
	m.mu.RUnlock()
	sort.Strings(plugins)
	var b strings.Builder
	hc := func(name, help, typ string, val func(*hostCounters) int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, p := range plugins {
			fmt.Fprintf(&b, "%s{plugin=%q} %d\n", name, p, val(m.host(p)))
		}
	}
	hc("meshd_wasm_calls_total", "Calls into guest VMs.", "counter", func(h *hostCounters) int64 { return h.calls.Load() })
	fmt.Fprintf(&b, "# HELP meshd_wasm_vm_failures_total Guest VMs that trapped, ran past the deadline, ran out of memory or exited.\n# TYPE meshd_wasm_vm_failures_total counter\n")
	for _, p := range plugins {
		for i, reason := range failReasons {
			fmt.Fprintf(&b, "meshd_wasm_vm_failures_total{plugin=%q,reason=%q} %d\n", p, reason, m.host(p).failures[i].Load())
		}
	}
	hc("meshd_wasm_vm_replacements_total", "VMs rebuilt after a failure.", "counter", func(h *hostCounters) int64 { return h.replaced.Load() })
	hc("meshd_wasm_vms", "Live VMs.", "gauge", func(h *hostCounters) int64 { return h.vms.Load() })
	hc("meshd_wasm_http_calls_total", "proxy_http_call requests dispatched.", "counter", func(h *hostCounters) int64 { return h.httpCalls.Load() })
	sort.Slice(guests, func(i, j int) bool { return guests[i].name < guests[j].name })
	for _, g := range guests {
		n := promName(g.name)
		switch g.kind {
		case abi.MetricCounter:
			fmt.Fprintf(&b, "# TYPE %s counter\n%s %d\n", n, n, g.value.Load())
		case abi.MetricGauge:
			fmt.Fprintf(&b, "# TYPE %s gauge\n%s %d\n", n, n, g.value.Load())
		case abi.MetricHistogram:
			fmt.Fprintf(&b, "# TYPE %s histogram\n", n)
			for i, bound := range histBounds {
				fmt.Fprintf(&b, "%s_bucket{le=\"%d\"} %d\n", n, bound, g.buckets[i].Load())
			}
			fmt.Fprintf(&b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %d\n%s_count %d\n", n, g.count.Load(), n, g.value.Load(), n, g.count.Load())
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var _ = math.MaxInt64
