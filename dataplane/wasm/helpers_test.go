package wasm

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/wasmbuild"
)

// needTool finds a build tool; in CI (CI=true) its absence fails the test.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: install it (apt-get install -y %s)", name, pkg)
		}
		t.Skipf("%s not found (apt-get install -y %s)", name, pkg)
	}
	return p
}

// watModule assembles testdata/NAME.wat with wabt's wat2wasm.
func watModule(t testing.TB, name string) []byte {
	t.Helper()
	tool := needTool(t, "wat2wasm", "wabt")
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command(tool, filepath.Join("testdata", name+".wat"), "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// netHost is a real Host: it sends http calls with net/http to the base URL
// configured for each cluster.
type netHost struct{ clusters map[string]string }

func (h netHost) HTTPCall(ctx context.Context, cluster string, headers [][2]string, body []byte, timeout time.Duration) (int, [][2]string, []byte, error) {
	base, ok := h.clusters[cluster]
	if !ok {
		return 0, nil, nil, &unknownCluster{cluster}
	}
	method, path := http.MethodGet, "/"
	var rest [][2]string
	for _, p := range headers {
		switch p[0] {
		case ":method":
			method = p[1]
		case ":path":
			path = p[1]
		case ":authority", ":scheme":
		default:
			rest = append(rest, p)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for _, p := range rest {
		req.Header.Add(p[0], p[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	var out [][2]string
	for k, vs := range resp.Header {
		for _, v := range vs {
			out = append(out, [2]string{http.CanonicalHeaderKey(k), v})
		}
	}
	return resp.StatusCode, out, b, nil
}

type unknownCluster struct{ name string }

func (e *unknownCluster) Error() string { return "unknown cluster " + e.name }

func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	r, err := NewRuntime(context.Background(), RuntimeConfig{CacheDir: wasmbuild.CacheDir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func newTestPlugin(t testing.TB, r *Runtime, cfg PluginConfig, host Host) *Plugin {
	t.Helper()
	p, err := r.NewPlugin(context.Background(), cfg, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func reqHeaders(kv ...string) *Headers {
	h := &Headers{{":method", "GET"}, {":path", "/"}, {":authority", "svc"}, {":scheme", "http"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// quietLogger keeps test output readable; set WASMESH_TEST_LOG=1 to see logs.
func quietLogger() *slog.Logger {
	if os.Getenv("WASMESH_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 8}))
}
