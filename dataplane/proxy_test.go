package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func listenerYAML(routes, clusters string) string {
	return fmt.Sprintf(`
admin: {address: 127.0.0.1:0}
logging: {access_log: false}
drain_grace: 100ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
%s
clusters:
%s
`, routes, clusters)
}

func TestRoundRobinSpreadAndWeights(t *testing.T) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	_, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api}`, fmt.Sprintf(`
  - name: api
    lb: round_robin
    endpoints: [{address: %s}, {address: %s}, {address: %s, weight: 2}]`, a.addr, b.addr, c.addr)))
	for range 400 {
		if code, _, _ := get(t, url+"/x"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	// Smooth weighted round-robin is exact: 1:1:2.
	if a.hits.Load() != 100 || b.hits.Load() != 100 || c.hits.Load() != 200 {
		t.Errorf("hits a=%d b=%d c=%d, want 100 100 200", a.hits.Load(), b.hits.Load(), c.hits.Load())
	}
}

func TestRoutingFeatures(t *testing.T) {
	api, canary, other := startBackend(t, "api"), startBackend(t, "canary"), startBackend(t, "other")
	_, url := startMeshd(t, listenerYAML(`
      - match: {prefix: /api/, headers: {x-canary: "1"}}
        cluster: canary
      - match: {prefix: /api/}
        cluster: api
        request_headers_to_add: {x-added: yes}
        response_headers_to_add: {x-served-by: meshd}
        response_headers_to_remove: [x-instance]
      - match: {prefix: /old/}
        prefix_rewrite: /new/
        cluster: other
      - match: {path: /go}
        redirect: {status: 302, host: example.com, path: /landing}
      - match: {regex: "/users/[0-9]+", methods: [DELETE]}
        direct_response: {status: 403, body: "no deleting\n"}
      - match: {prefix: /, query: {v: "2"}}
        cluster: canary
      - match: {prefix: /}
        direct_response: {status: 200, body: "meshd up\n"}`, fmt.Sprintf(`
  - {name: api, endpoints: %s}
  - {name: canary, endpoints: %s}
  - {name: other, endpoints: %s}`, endpoints(api), endpoints(canary), endpoints(other))))

	api.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance", "api")
		fmt.Fprintf(w, "api added=%s", r.Header.Get("X-Added"))
	})
	code, body, h := get(t, url+"/api/x")
	if code != 200 || body != "api added=yes" || h.Get("X-Served-By") != "meshd" || h.Get("X-Instance") != "" {
		t.Errorf("api route: %d %q %v", code, body, h)
	}
	if _, body, _ := get(t, url+"/api/x", "x-canary", "1"); body != "canary /api/x" {
		t.Errorf("canary header route: %q", body)
	}
	if _, body, _ := get(t, url+"/old/thing"); body != "other /new/thing" {
		t.Errorf("prefix rewrite: %q", body)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(url + "/go")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || !strings.HasSuffix(resp.Header.Get("Location"), "example.com/landing") {
		t.Errorf("redirect: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest("DELETE", url+"/users/7", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(b) != "no deleting\n" {
		t.Errorf("regex+method direct response: %d %q", resp.StatusCode, b)
	}
	if _, body, _ := get(t, url+"/q?v=2"); body != "canary /q" {
		t.Errorf("query route: %q", body)
	}
	if code, body, _ := get(t, url+"/"); code != 200 || body != "meshd up\n" {
		t.Errorf("direct response: %d %q", code, body)
	}
}

func TestRetriesTurnFlaky503sInto200s(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	_, url := startMeshd(t, listenerYAML(`
      - match: {prefix: /}
        cluster: api
        retry: {attempts: 3, on: [5xx], backoff: {base: 1ms, max: 5ms}}`, fmt.Sprintf(`
  - name: api
    endpoints: %s
    retry_budget: {percent: 100, min_concurrency: 10}`, endpoints(a, b))))
	for range 50 {
		a.fail.Store(1) // every request that lands on a first fails once
		if code, body, _ := get(t, url+"/x"); code != 200 {
			t.Fatalf("got %d %q; a retry should have hidden the 503", code, body)
		}
	}
	if a.hits.Load() == 0 {
		t.Fatal("backend a never got traffic")
	}
}

func TestRetryBudgetAndAttemptsBound(t *testing.T) {
	a := startBackend(t, "a")
	a.fail.Store(1 << 30) // always failing
	_, url := startMeshd(t, listenerYAML(`
      - match: {prefix: /}
        cluster: api
        retry: {attempts: 3, on: [5xx], backoff: {base: 1ms, max: 2ms}}`, fmt.Sprintf(`
  - {name: api, endpoints: %s}`, endpoints(a))))
	code, _, _ := get(t, url+"/x")
	if code != 503 {
		t.Fatalf("status %d, want the upstream's 503 after retries", code)
	}
	if n := a.hits.Load(); n != 3 {
		t.Errorf("upstream saw %d tries, want 3 (attempts)", n)
	}
}

func TestCircuitBreakerOverflow(t *testing.T) {
	a := startBackend(t, "a")
	release := make(chan struct{})
	a.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, "done")
	})
	_, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api}`, fmt.Sprintf(`
  - name: api
    endpoints: %s
    circuit_breaker: {max_requests: 2}`, endpoints(a))))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, url+"/slow") }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.hits.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	code, body, h := get(t, url+"/third")
	close(release)
	wg.Wait()
	if code != 503 || h.Get("X-Meshd-Overflow") != "max_requests" || !strings.Contains(body, "max_requests") {
		t.Errorf("third request: %d %q overflow=%q, want 503 max_requests", code, body, h.Get("X-Meshd-Overflow"))
	}
}

func TestTimeouts(t *testing.T) {
	slow := startBackend(t, "slow")
	slow.set(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "late")
	})
	tests := []struct {
		name  string
		route string
	}{
		{"total", `      - {match: {prefix: /}, cluster: api, timeout: 100ms}`},
		{"per_try", `      - {match: {prefix: /}, cluster: api, timeout: 2s, retry: {attempts: 2, on: [5xx], per_try_timeout: 80ms, backoff: {base: 1ms}}}`},
		{"idle", `      - {match: {prefix: /}, cluster: api, timeout: 2s, idle_timeout: 80ms}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startMeshd(t, listenerYAML(tt.route, fmt.Sprintf(`
  - {name: api, endpoints: %s}`, endpoints(slow))))
			start := time.Now()
			code, body, _ := get(t, url+"/x")
			if code != 504 || body != "upstream request timeout\n" {
				t.Errorf("got %d %q, want 504 upstream request timeout", code, body)
			}
			if el := time.Since(start); el > 1200*time.Millisecond {
				t.Errorf("took %s; the timeout did not cut the request short", el)
			}
		})
	}
}

func TestConnectFailureRetriedToHealthyHost(t *testing.T) {
	a := startBackend(t, "a")
	dead := startBackend(t, "dead")
	dead.stop() // its port now refuses connections
	_, url := startMeshd(t, listenerYAML(`
      - match: {prefix: /}
        cluster: api
        retry: {attempts: 2, on: [connect-failure], backoff: {base: 1ms}}`, fmt.Sprintf(`
  - {name: api, connect_timeout: 200ms, endpoints: %s}`, endpoints(a, dead))))
	for range 20 {
		if code, body, _ := get(t, url+"/x"); code != 200 {
			t.Fatalf("got %d %q", code, body)
		}
	}
}

func TestKilledUpstreamEjectedTrafficUnharmed(t *testing.T) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	srv, url := startMeshd(t, listenerYAML(`
      - match: {prefix: /}
        cluster: api
        retry: {attempts: 3, on: [5xx, reset, connect-failure], backoff: {base: 1ms, max: 5ms}}`, fmt.Sprintf(`
  - name: api
    connect_timeout: 200ms
    endpoints: %s
    health_check: {path: /healthz, interval: 100ms, unhealthy_threshold: 2, healthy_threshold: 1}
    outlier_detection: {consecutive_5xx: 3, consecutive_gateway_error: 3, interval: 100ms, base_ejection_time: 10s, max_ejection_percent: 50}
    retry_budget: {percent: 100, min_concurrency: 16}`, endpoints(a, b, c))))
	stop := make(chan struct{})
	ok, fails, wait := load(url+"/x", 8, stop)
	time.Sleep(200 * time.Millisecond)
	c.stop()
	time.Sleep(time.Second)
	close(stop)
	wait()
	if len(*fails) > 0 {
		t.Errorf("%d failed requests after killing one upstream, e.g. %v", len(*fails), (*fails)[0])
	}
	if ok.Load() == 0 {
		t.Fatal("no request succeeded")
	}
	var cHost interface{ Available() bool }
	for _, h := range srv.mgr.Get("api").Hosts {
		if h.Addr == c.addr {
			cHost = h
		}
	}
	if cHost.Available() {
		t.Error("the killed upstream is still available for balancing")
	}
	before := c.hits.Load()
	for range 30 {
		get(t, url+"/x")
	}
	if c.hits.Load() != before {
		t.Error("traffic still reaches the killed upstream")
	}
}

func TestOutlierEjectionOn5xx(t *testing.T) {
	a, bad := startBackend(t, "a"), startBackend(t, "bad")
	bad.fail.Store(1 << 30)
	srv, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api}`, fmt.Sprintf(`
  - name: api
    endpoints: %s
    outlier_detection: {consecutive_5xx: 3, interval: 1s, base_ejection_time: 30s, max_ejection_percent: 50}`, endpoints(a, bad))))
	for range 20 {
		get(t, url+"/x")
	}
	var ejected bool
	for _, h := range srv.mgr.Get("api").Hosts {
		if h.Addr == bad.addr {
			ejected = h.Ejected()
		}
	}
	if !ejected {
		t.Fatal("host answering 503s was not ejected")
	}
	if bad.hits.Load() != 3 {
		t.Errorf("bad host got %d requests, want exactly 3 before ejection", bad.hits.Load())
	}
	for range 10 {
		if code, _, _ := get(t, url+"/x"); code != 200 {
			t.Fatalf("after ejection got %d", code)
		}
	}
}

func TestHotReloadUnderLoadZeroFailures(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	cfg := func(target string) string {
		return listenerYAML(`      - {match: {prefix: /}, cluster: `+target+`}`, fmt.Sprintf(`
  - {name: a, endpoints: %s}
  - {name: b, endpoints: %s}`, endpoints(a), endpoints(b)))
	}
	srv, url := startMeshd(t, cfg("a"))
	stop := make(chan struct{})
	ok, fails, wait := load(url+"/x", 8, stop)
	for i := range 20 {
		target := "b"
		if i%2 == 1 {
			target = "a"
		}
		if err := srv.Apply(mustConfig(t, cfg(target)), fmt.Sprintf("v%d", i+2)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	close(stop)
	wait()
	if len(*fails) > 0 {
		t.Fatalf("%d requests failed during reloads, e.g. %v", len(*fails), (*fails)[0])
	}
	if ok.Load() < 100 || a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("ok=%d a=%d b=%d: the reloads did not move traffic", ok.Load(), a.hits.Load(), b.hits.Load())
	}
}

func TestBadReloadKeepsOldConfig(t *testing.T) {
	a := startBackend(t, "a")
	good := listenerYAML(`      - {match: {prefix: /}, cluster: api}`, fmt.Sprintf(`
  - {name: api, endpoints: %s}`, endpoints(a)))
	dir := t.TempDir()
	path := filepath.Join(dir, "meshd.yaml")
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	reload := func() (*confConfig, string, error) {
		src, err := confLoad(path)
		if err != nil {
			return nil, "", err
		}
		return src, "next", nil
	}
	srv := New(Options{Reload: reload})
	if err := srv.Apply(mustConfig(t, good), "v1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	url := "http://" + srv.Addr("ingress")
	if err := os.WriteFile(path, []byte(strings.Replace(good, "cluster: api", "cluster: apj", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err := srv.Reload()
	if err == nil || !strings.Contains(err.Error(), `did you mean "api"`) {
		t.Fatalf("reload error = %v, want the missing cluster with a suggestion", err)
	}
	if code, _, _ := get(t, url+"/x"); code != 200 {
		t.Errorf("old config stopped serving: %d", code)
	}
	if srv.lastErr.Load() == nil || srv.snap.Load().version != "v1" {
		t.Error("the failed reload was not recorded, or replaced the version in force")
	}
}

func TestGracefulDrainZeroFailures(t *testing.T) {
	a := startBackend(t, "a")
	a.set(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, "ok")
	})
	srv, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api}`, fmt.Sprintf(`
  - {name: api, endpoints: %s}`, endpoints(a))))
	// Requests in flight when the drain starts must all complete.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(url + "/x")
			if err != nil {
				errs <- err.Error()
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		}()
	}
	for a.hits.Load() < 8 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request failed during drain: %s", e)
	}
	if _, err := client.Get(url + "/after"); err == nil {
		t.Error("listener still accepts after drain")
	}
}

func TestStreamed100MBBodyBoundedMemory(t *testing.T) {
	a := startBackend(t, "a")
	a.set(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n)
	})
	_, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api, timeout: 60s}`, fmt.Sprintf(`
  - {name: api, endpoints: %s}`, endpoints(a))))
	const size = 100 << 20
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	req, _ := http.NewRequest("POST", url+"/upload", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	resp, err := client.Do(req)
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != fmt.Sprint(size) {
		t.Fatalf("upload: %d %q", resp.StatusCode, body)
	}
	if grew := int64(peak) - int64(before.HeapInuse); grew > 32<<20 {
		t.Errorf("heap grew %d MB while streaming 100 MB; the body was buffered", grew>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestStreamed100MBDownloadBoundedMemory(t *testing.T) {
	a := startBackend(t, "a")
	const size = 100 << 20
	a.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		io.Copy(w, io.LimitReader(zeros{}, size))
	})
	_, url := startMeshd(t, listenerYAML(`      - {match: {prefix: /}, cluster: api, timeout: 60s}`, fmt.Sprintf(`
  - {name: api, endpoints: %s}`, endpoints(a))))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := client.Get(url + "/download")
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	n := int64(0)
	buf := make([]byte, 1<<20)
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if n%(8<<20) < int64(k) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	if grew := int64(peak) - int64(before.HeapInuse); grew > 32<<20 {
		t.Errorf("heap grew %d MB while streaming a 100 MB response; it was buffered", grew>>20)
	}
	// The connection went back to the pool: the next request works.
	a.set(nil)
	if code, _, _ := get(t, url+"/x"); code != 200 {
		t.Errorf("after download: %d", code)
	}
}
