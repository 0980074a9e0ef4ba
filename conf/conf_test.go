package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const base = `
admin: {address: 127.0.0.1:9901}
listeners:
  - name: ingress
    address: 127.0.0.1:10000
    routes:
      - match: {prefix: /api/}
        cluster: api
        timeout: 2s
        retry: {attempts: 3, on: [5xx], per_try_timeout: 500ms, backoff: {base: 25ms, max: 250ms}}
clusters:
  - name: api
    endpoints: [{address: 127.0.0.1:18081}]
`

func TestValidationMessages(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		want   []string // substrings that must all appear in one problem
		line   int
		noLine bool
	}{
		{"unknown key with suggestion", strings.Replace(base, "timeout: 2s", "timout: 2s", 1),
			[]string{`unknown field "timout"`, `did you mean "timeout"?`}, 9, false},
		{"unknown top-level key", base + "clustrs: []\n",
			[]string{`unknown field "clustrs"`, `did you mean "clusters"?`}, 14, false},
		{"bad lb value lists allowed", strings.Replace(base, "  - name: api\n", "  - name: api\n    lb: roundrobin\n", 1),
			[]string{`unknown load-balancing policy "roundrobin"`, `did you mean "round_robin"?`, "allowed:"}, 13, false},
		{"bad duration", strings.Replace(base, "timeout: 2s", "timeout: two", 1),
			[]string{`"two" is not a duration`}, 9, false},
		{"bad number", strings.Replace(base, "attempts: 3", "attempts: three", 1),
			[]string{"expected a whole number"}, 10, false},
		{"per-try longer than route timeout", strings.Replace(base, "per_try_timeout: 500ms", "per_try_timeout: 5s", 1),
			[]string{"per-try timeout 5s is longer than the route timeout 2s", "shorten per_try_timeout"}, 10, false},
		{"retries above breaker max_retries", strings.Replace(base, "endpoints: [{address: 127.0.0.1:18081}]", "endpoints: [{address: 127.0.0.1:18081}]\n    circuit_breaker: {max_retries: 1}", 1),
			[]string{`2 retries exceed cluster "api" circuit_breaker.max_retries 1`, "lower attempts to 2"}, 10, false},
		{"route to missing cluster", strings.Replace(base, "cluster: api", "cluster: apii", 1),
			[]string{`cluster "apii", which does not exist`, `did you mean "api"?`}, 8, false},
		{"two listeners on one address", base + `
  - name: api2
    endpoints: [{address: 127.0.0.1:18082}]
` + "listeners_extra: x\n",
			[]string{`unknown field "listeners_extra"`}, 0, true},
		{"panic threshold not a percentage", strings.Replace(base, "  - name: api\n", "  - name: api\n    lb_panic_threshold: 150\n", 1),
			[]string{"lb_panic_threshold", "150 is not a percentage", "use 0 to 100"}, 13, false},
		{"ring_hash without hash key", strings.Replace(base, "  - name: api\n", "  - name: api\n    lb: ring_hash\n", 1),
			[]string{"ring_hash needs a hash key", "hash: {header: x-user-id}"}, 13, false},
		{"unknown retry condition", strings.Replace(base, "on: [5xx]", "on: [5xx, conect-failure]", 1),
			[]string{`unknown retry condition "conect-failure"`, `did you mean "connect-failure"?`}, 10, false},
		{"admin off loopback", strings.Replace(base, "127.0.0.1:9901", "0.0.0.0:9901", 1),
			[]string{"non-loopback", "allow_non_loopback"}, 2, false},
		{"route with two actions", strings.Replace(base, "cluster: api\n        timeout", "cluster: api\n        direct_response: {status: 200}\n        timeout", 1),
			[]string{"exactly one of cluster"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes([]string{"meshd.yaml"}, [][]byte{[]byte(tt.yaml)})
			ps, ok := AsProblems(err)
			if !ok {
				t.Fatalf("err = %v, want Problems", err)
			}
			for _, p := range ps {
				s := p.String()
				all := true
				for _, w := range tt.want {
					if !strings.Contains(s, w) {
						all = false
					}
				}
				if all {
					if p.File != "meshd.yaml" {
						t.Errorf("problem has file %q", p.File)
					}
					if !tt.noLine && p.Line != tt.line {
						t.Errorf("problem at line %d, want %d: %s", p.Line, tt.line, s)
					}
					return
				}
			}
			t.Errorf("no problem contains %q; got:\n%s", tt.want, ps.Error())
		})
	}
}

func TestTwoListenersOnOneAddress(t *testing.T) {
	y := base + `
`
	y = strings.Replace(y, "clusters:", `  - name: second
    address: 127.0.0.1:10000
    routes: [{match: {prefix: /}, cluster: api}]
clusters:`, 1)
	_, err := LoadBytes([]string{"m.yaml"}, [][]byte{[]byte(y)})
	if err == nil || !strings.Contains(err.Error(), `address 127.0.0.1:10000 is already used by listener "ingress"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	y := strings.Replace(strings.Replace(base, "timeout: 2s", "timout: 2s", 1), "cluster: api", "cluster: nope", 1)
	_, err := LoadBytes([]string{"m.yaml"}, [][]byte{[]byte(y)})
	ps, _ := AsProblems(err)
	if len(ps) < 2 {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestDemoConfigLoads(t *testing.T) {
	src, err := Load("examples/demo.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	c := src.Config
	if len(c.Listeners) != 1 || len(c.Listeners[0].Routes) != 3 || len(c.Clusters) != 2 {
		t.Fatalf("demo config shape: %+v", c)
	}
	api := c.Clusters[0]
	if api.Endpoints[2].Weight != 2 || api.HealthCheck.Interval.D() != time.Second || api.OutlierDetection.MaxEjectionPercent != 50 {
		t.Errorf("cluster api: %+v", api)
	}
	if r := c.Listeners[0].Routes[1]; r.Retry.PerTryTimeout.D() != 500*time.Millisecond || r.Retry.Backoff.Max.D() != 250*time.Millisecond {
		t.Errorf("retry: %+v", r.Retry)
	}
}

func TestOverlayMergesByName(t *testing.T) {
	dir := t.TempDir()
	basePath := filepath.Join(dir, "m.yaml")
	os.WriteFile(basePath, []byte(base+"  - name: other\n    endpoints: [{address: 127.0.0.1:1}]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "m.prod.yaml"), []byte(`
clusters:
  - name: api
    connect_timeout: 100ms
  - name: extra
    endpoints: [{address: 127.0.0.1:2}]
logging: {level: warn}
`), 0o644)
	src, err := Load(basePath, "prod")
	if err != nil {
		t.Fatal(err)
	}
	c := src.Config
	if len(c.Clusters) != 3 {
		t.Fatalf("clusters %d, want api, other, extra", len(c.Clusters))
	}
	api := c.Clusters[0]
	if api.Name != "api" || api.ConnectTimeout.D() != 100*time.Millisecond || len(api.Endpoints) != 1 {
		t.Errorf("api not merged: %+v", api)
	}
	if c.Clusters[2].Name != "extra" || c.Logging.Level != "warn" {
		t.Errorf("overlay additions missing: %+v", c)
	}
	// A problem introduced by the overlay points at the overlay file.
	os.WriteFile(filepath.Join(dir, "m.prod.yaml"), []byte("clusters:\n  - name: api\n    lb: nope\n"), 0o644)
	_, err = Load(basePath, "prod")
	ps, _ := AsProblems(err)
	if len(ps) != 1 || !strings.HasSuffix(ps[0].File, "m.prod.yaml") || ps[0].Line != 3 {
		t.Errorf("overlay problem = %v", ps)
	}
	if _, err := Load(basePath, "staging"); err == nil || !strings.Contains(err.Error(), "m.staging.yaml") {
		t.Errorf("missing overlay error = %v", err)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"timout", "timeout"}, {"endpionts", "endpoints"}, {"zzzzzz", ""}, {"lb_policy", ""},
	}
	cands := []string{"timeout", "endpoints", "lb", "name"}
	for _, tt := range tests {
		if got := Suggest(tt.in, cands); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
