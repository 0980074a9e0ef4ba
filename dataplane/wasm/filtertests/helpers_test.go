package filtertests

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/wasmbuild"
)

// filterWasm builds filters/NAME and returns its bytes.
func filterWasm(t testing.TB, name string) []byte {
	t.Helper()
	path, err := wasmbuild.Build(filepath.Join("../../../filters", name), "../../../filters", "../../../wasm-sdk")
	if err != nil {
		t.Fatalf("filter %s: %v", name, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRuntime(t testing.TB, cfg wasm.RuntimeConfig) *wasm.Runtime {
	t.Helper()
	if cfg.Logger == nil && os.Getenv("WASMESH_TEST_LOG") == "" {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 8}))
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = wasmbuild.CacheDir
	}
	r, err := wasm.NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func newPlugin(t testing.TB, r *wasm.Runtime, cfg wasm.PluginConfig, host wasm.Host) *wasm.Plugin {
	t.Helper()
	if cfg.CallDeadline == 0 {
		cfg.CallDeadline = 5 * time.Second // the test machine is shared and slow under -race
	}
	p, err := r.NewPlugin(context.Background(), cfg, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

func request(path string, kv ...string) *wasm.Headers {
	h := &wasm.Headers{{":method", "GET"}, {":path", path}, {":authority", "svc"}, {":scheme", "http"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// run sends request headers through a new stream, waiting out a pause.
func run(t testing.TB, p *wasm.Plugin, info wasm.StreamInfo, h *wasm.Headers) (wasm.Action, *wasm.Stream) {
	t.Helper()
	s := p.NewStream(info)
	a := s.OnRequestHeaders(h, true)
	if a == wasm.Pause {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a = s.Wait(ctx)
		cancel()
	}
	return a, s
}

// netHost sends http calls with net/http to a base URL per cluster.
type netHost struct{ clusters map[string]string }

func (h netHost) HTTPCall(ctx context.Context, cluster string, headers [][2]string, body []byte, timeout time.Duration) (int, [][2]string, []byte, error) {
	method, path := "GET", "/"
	for _, p := range headers {
		switch p[0] {
		case ":method":
			method = p[1]
		case ":path":
			path = p[1]
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, h.clusters[cluster]+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, nil, b, err
}
