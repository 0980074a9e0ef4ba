package stats

import (
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/internal/telemetry"
)

func TestClassHistogram(t *testing.T) {
	s := New()
	h := telemetry.NewClassHistogram(s.ServerDuration, "in", "r1")
	for _, c := range []struct {
		status int
		failed bool
	}{{200, false}, {204, false}, {404, false}, {503, false}, {0, false}, {200, true}} {
		h.Observe(c.status, c.failed, 0.001)
	}
	want := map[string]int{
		`code_class="2xx",listener="in",outcome="success",route="r1"`: 2,
		`code_class="4xx",listener="in",outcome="success",route="r1"`: 1,
		`code_class="5xx",listener="in",outcome="error",route="r1"`:   2,
		`code_class="2xx",listener="in",outcome="error",route="r1"`:   1,
	}
	wantCounts(t, s, "meshd_http_server_request_duration_seconds", want)
	if a := testing.AllocsPerRun(100, func() { h.Observe(200, false, 0.001) }); a != 0 {
		t.Errorf("Observe allocates %.0f times per call on a resolved child", a)
	}
}

func TestRPCHistogram(t *testing.T) {
	s := New()
	h := telemetry.NewRPCHistogram(s.RPCDuration, "in", "r1")
	for _, code := range []int{0, 0, 5, 14, -1, 99} {
		h.Observe(code, 0.001)
	}
	want := map[string]int{
		`listener="in",outcome="success",route="r1",rpc_grpc_status_code="0"`: 2,
		`listener="in",outcome="success",route="r1",rpc_grpc_status_code="5"`: 1,
		`listener="in",outcome="error",route="r1",rpc_grpc_status_code="14"`:  1,
		`listener="in",outcome="error",route="r1",rpc_grpc_status_code="2"`:   2,
	}
	wantCounts(t, s, "meshd_rpc_server_duration_seconds", want)
}

// wantCounts checks a histogram family has exactly the series of want
// (keyed by sorted label pairs) with those sample counts.
func wantCounts(t *testing.T, s *Stats, name string, want map[string]int) {
	t.Helper()
	got := counts(t, s, name)
	if len(got) != len(want) {
		t.Fatalf("%s: series %v, want %v", name, got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: count %d, want %d", k, got[k], n)
		}
	}
}

// counts returns each series' sample count of a histogram family, keyed
// by its sorted label pairs.
func counts(t *testing.T, s *Stats, name string) map[string]int {
	t.Helper()
	mfs, err := s.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var kv []string
			for _, l := range m.GetLabel() {
				kv = append(kv, l.GetName()+`="`+l.GetValue()+`"`)
			}
			out[strings.Join(kv, ",")] = int(m.GetHistogram().GetSampleCount())
		}
	}
	return out
}
