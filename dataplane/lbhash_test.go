package dataplane

import (
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHashTablesFollowHealth runs ring_hash and maglev clusters over real
// upstreams with active health checks: a host failing its checks loses its
// keys to several other hosts while every other key stays put, its keys
// come back when it recovers, and with most hosts failing their checks
// (below the 50% panic threshold) the table spans every host again, so
// keys reach hosts that still serve although their checks fail.
func TestHashTablesFollowHealth(t *testing.T) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		t.Run(policy, func(t *testing.T) {
			bs := []*backend{startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c"), startBackend(t, "d")}
			srv, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api}`, fmt.Sprintf(`
  - name: api
    lb: %s
    hash: {header: x-user}
    endpoints: %s
    health_check: {path: /healthz, interval: 50ms, unhealthy_threshold: 1, healthy_threshold: 1}`, policy, endpoints(bs...))))
			const keys = 120
			mapping := func() []string {
				out := make([]string, keys)
				for i := range out {
					code, body, _ := get(t, url+"/x", "x-user", "user-"+strconv.Itoa(i))
					if code != 200 {
						t.Fatalf("user-%d: got %d %q", i, code, body)
					}
					out[i], _, _ = strings.Cut(body, " ")
				}
				return out
			}
			available := func(want map[string]bool) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					ok := true
					for _, h := range srv.mgr.Get("api").Hosts {
						for _, b := range bs {
							if h.Addr == b.addr && h.Available() != want[b.name] {
								ok = false
							}
						}
					}
					if ok {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("hosts did not reach availability %v", want)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// eventually polls the key mapping until cond holds, since the
			// table is rebuilt just after the health transition.
			eventually := func(what string, cond func([]string) bool) []string {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					m := mapping()
					if cond(m) {
						return m
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: mapping %v", what, m)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			equal := func(a []string) func([]string) bool {
				return func(b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
			}
			all := map[string]bool{"a": true, "b": true, "c": true, "d": true}
			available(all)
			before := mapping()
			if again := mapping(); !equal(before)(again) {
				t.Fatalf("the same keys mapped to %v, then %v", before, again)
			}

			bs[2].sick.Store(true) // c fails its checks
			available(map[string]bool{"a": true, "b": true, "d": true})
			after := eventually("c out", func(m []string) bool { return !strings.Contains(strings.Join(m, ","), "c") })
			took, moved := map[string]int{}, 0
			for i := range before {
				if before[i] == "c" {
					took[after[i]]++
				} else if after[i] != before[i] {
					moved++
				}
			}
			// Ring hash moves no key of a healthy host; Maglev a few at most
			// (well under 1% in the lb package's tests).
			if maxMoved := map[string]int{"ring_hash": 0, "maglev": 3}[policy]; moved > maxMoved {
				t.Errorf("%d keys of healthy hosts moved, want at most %d", moved, maxMoved)
			}
			if len(took) < 2 {
				t.Errorf("c's keys all went to one host: %v", took)
			}

			bs[2].sick.Store(false)
			available(all)
			eventually("c back", equal(before))

			// Three of four failing checks: 25% < 50%, panic mode.
			for _, b := range bs[:3] {
				b.sick.Store(true)
			}
			available(map[string]bool{"d": true})
			eventually("panic mode maps keys over every host", equal(before))
			if v := testutil.ToFloat64(srv.stats.LBPanic.WithLabelValues("api")); v != 1 {
				t.Errorf("meshd_cluster_lb_panic{cluster=api} = %v in panic mode, want 1", v)
			}

			for _, b := range bs[:3] {
				b.sick.Store(false)
			}
			available(all)
			eventually("all back", equal(before))
			if v := testutil.ToFloat64(srv.stats.LBPanic.WithLabelValues("api")); v != 0 {
				t.Errorf("meshd_cluster_lb_panic{cluster=api} = %v after recovery, want 0", v)
			}
		})
	}
}
