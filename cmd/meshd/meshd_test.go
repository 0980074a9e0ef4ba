package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

var meshdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshd-bin")
	if err != nil {
		panic(err)
	}
	meshdBin = filepath.Join(dir, "meshd")
	if out, err := exec.Command("go", "build", "-race", "-o", meshdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build meshd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func upstream(t *testing.T, body string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func config(listen, admin, cluster, a, b string) string {
	return fmt.Sprintf(`
admin: {address: %s}
drain_grace: 50ms
logging: {access_log: true}
listeners:
  - name: ingress
    address: %s
    routes: [{match: {prefix: /}, cluster: %s}]
clusters:
  - {name: a, endpoints: [{address: %s}]}
  - {name: b, endpoints: [{address: %s}]}
`, admin, listen, cluster, a, b)
}

func waitBody(t *testing.T, url, want string) {
	t.Helper()
	waitBodyWithin(t, url, want, 10*time.Second)
}

func waitBodyWithin(t *testing.T, url, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if last == want {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: last %q, want %q", url, last, want)
}

func TestMeshdProcess(t *testing.T) {
	a, b := upstream(t, "from-a"), upstream(t, "from-b")
	listen, admin := freePort(t), freePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "meshd.yaml")
	os.WriteFile(path, []byte(config(listen, admin, "a", a, b)), 0o644)

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(meshdBin, "-c", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	waitBody(t, "http://"+listen+"/x", "from-a")

	// A file edit reloads without a restart.
	os.WriteFile(path, []byte(config(listen, admin, "b", a, b)), 0o644)
	waitBody(t, "http://"+listen+"/x", "from-b")

	// A bad edit is rejected; the old config keeps serving and the error
	// shows in /config_dump and the reload-failure metric.
	os.WriteFile(path, []byte(strings.Replace(config(listen, admin, "b", a, b), "cluster: b", "cluster: c", 1)), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/config_dump")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `cluster \"c\", which does not exist`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("config_dump never showed the reload error: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitBody(t, "http://"+listen+"/x", "from-b")

	// SIGHUP reloads too.
	os.WriteFile(path, []byte(config(listen, admin, "a", a, b)), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitBody(t, "http://"+listen+"/x", "from-a")

	// /metrics passes the same lint as promtool check metrics.
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(resp.Body).Lint()
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	resp, _ = http.Get("http://" + admin + "/metrics")
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`meshd_config_reloads_total{result="failure"}`, `meshd_config_last_reload_failed 0`, `meshd_http_server_request_duration_seconds_count{code_class="2xx"`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// SIGTERM drains and exits 0.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("meshd exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("meshd did not exit after SIGTERM")
	}
	if !strings.Contains(stdout.String(), `"msg":"access"`) || !strings.Contains(stdout.String(), `"request_id"`) || !strings.Contains(stdout.String(), `"trace_id"`) {
		t.Errorf("no JSON access log with request id on stdout: %.300s", stdout.String())
	}
}

func TestMeshdRefusesBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("listeners:\n  - name: x\n    adress: 127.0.0.1:1\n"), 0o644)
	out, err := exec.Command(meshdBin, "-c", path).CombinedOutput()
	if err == nil {
		t.Fatal("meshd started on a bad config")
	}
	for _, want := range []string{"bad.yaml:3", `unknown field "adress"`, `did you mean "address"?`, "not starting"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestMeshdEnvOverlay(t *testing.T) {
	a, b := upstream(t, "from-a"), upstream(t, "from-b")
	listen, admin := freePort(t), freePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.yaml")
	os.WriteFile(path, []byte(config(listen, admin, "a", a, b)), 0o644)
	os.WriteFile(filepath.Join(dir, "m.prod.yaml"), []byte("clusters:\n  - name: a\n    endpoints: [{address: "+b+"}]\n"), 0o644)
	cmd := exec.Command(meshdBin, "-c", path)
	cmd.Env = append(os.Environ(), "MESHD_ENV=prod")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	waitBody(t, "http://"+listen+"/x", "from-b")
}

// TestDemoConfig runs meshd on the quick start's config (conf/examples/
// demo.yaml, ports moved to free ones) from the repository root, as `make
// run` does, and checks both Wasm filters act: ids and rate-limit headers
// on an answer, then 429s once a burst passes the limit.
func TestDemoConfig(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, f := range []string{"tracing", "rate-limit"} {
		if _, err := os.Stat(filepath.Join(root, "build", "filters", f+".wasm")); err != nil {
			t.Fatalf("%v: build the filters first (make filters; make test does)", err)
		}
	}
	demo, err := os.ReadFile(filepath.Join(root, "conf", "examples", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := freePort(t), freePort(t)
	cfg := strings.NewReplacer("127.0.0.1:10000", listen, "127.0.0.1:9901", admin).Replace(string(demo))
	for i := 1; i <= 4; i++ {
		cfg = strings.ReplaceAll(cfg, fmt.Sprintf("127.0.0.1:1808%d", i), upstream(t, "demo"))
	}
	path := filepath.Join(t.TempDir(), "demo.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	cmd := exec.Command(meshdBin, "-c", path)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("meshd output:\n%s", stderr.String())
		}
	}()
	// Compiling two Go guests on a cold cache, under -race on a busy
	// machine, can take a while before the listener opens.
	waitBodyWithin(t, "http://"+listen+"/api/hello", "demo", 90*time.Second)

	resp, err := http.Get("http://" + listen + "/api/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, h := range []string{"X-Request-Id", "X-Correlation-Id", "X-Ratelimit-Limit"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("answer has no %s header; headers: %v", h, resp.Header)
		}
	}
	// The bucket holds 40 and refills at 20/s: 200 requests at once (they
	// would have to spread over 8 s to all pass) must see some refused.
	const n = 200
	codes := make(chan int, n)
	for range n {
		go func() {
			resp, err := http.Get("http://" + listen + "/api/hello")
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	seen := map[int]int{}
	for range n {
		seen[<-codes]++
	}
	if seen[http.StatusTooManyRequests] == 0 || seen[http.StatusOK] == 0 || seen[http.StatusOK]+seen[http.StatusTooManyRequests] != n {
		t.Errorf("%d requests at once: %v, want 200s and 429s only", n, seen)
	}
}
