package dataplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/conf"
)

// backend is a real HTTP server on loopback whose behaviour a test steers.
type backend struct {
	name string
	addr string
	srv  *http.Server
	ln   net.Listener
	hits atomic.Int64
	// fail, when > 0, makes the next N requests answer 503.
	fail    atomic.Int64
	handler atomic.Pointer[http.HandlerFunc]
	// sick makes /healthz answer 503 while other paths still serve.
	sick atomic.Bool
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), ln: ln}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if b.sick.Load() {
				http.Error(w, "sick", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
			return
		}
		b.hits.Add(1)
		if h := b.handler.Load(); h != nil {
			(*h)(w, r)
			return
		}
		if b.fail.Add(-1) >= 0 {
			http.Error(w, "flaky", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Instance", name)
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	b.fail.Store(0)
	go b.srv.Serve(ln)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) set(h http.HandlerFunc) {
	if h == nil {
		b.handler.Store(nil)
		return
	}
	b.handler.Store(&h)
}

func (b *backend) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
	b.srv.Close()
}

// startMeshd starts a data plane in-process from a YAML config.
func startMeshd(t *testing.T, yaml string) (*Server, string) {
	t.Helper()
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Apply(mustConfig(t, yaml), "v1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, "http://" + s.Addr("ingress")
}

func mustConfig(t *testing.T, yaml string) *conf.Config {
	t.Helper()
	src, err := conf.LoadBytes([]string{"test.yaml"}, [][]byte{[]byte(yaml)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return src.Config
}

func endpoints(bs ...*backend) string {
	var parts []string
	for _, b := range bs {
		parts = append(parts, fmt.Sprintf("{address: %s}", b.addr))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

func get(t *testing.T, url string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// load sends GETs from n workers until stop is closed and returns how many
// succeeded and the failures seen (transport errors and non-2xx).
func load(url string, n int, stop <-chan struct{}) (ok *atomic.Int64, failures *[]string, wait func()) {
	ok = &atomic.Int64{}
	var mu sync.Mutex
	var fails []string
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					mu.Lock()
					fails = append(fails, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%d %s", resp.StatusCode, body))
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	return ok, &fails, func() { wg.Wait() }
}
