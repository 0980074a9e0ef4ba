package client

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// upstream is a real loopback HTTP server that counts its requests and
// answers with its name, or with a failure status while failing is set.
type upstream struct {
	name     string
	srv      *httptest.Server
	hits     atomic.Int64
	failing  atomic.Int32 // status to answer with, 0: healthy
	mu       sync.Mutex
	last     *http.Request // headers of the last request
	lastBody string
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		b := make([]byte, 1024)
		n, _ := r.Body.Read(b)
		u.mu.Lock()
		u.last, u.lastBody = r, string(b[:n])
		u.mu.Unlock()
		if code := u.failing.Load(); code != 0 {
			w.WriteHeader(int(code))
			return
		}
		fmt.Fprint(w, u.name)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return u.srv.Listener.Addr().String() }

func (u *upstream) lastRequest() (*http.Request, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.lastBody
}

func endpoints(us ...*upstream) []Endpoint {
	eps := make([]Endpoint, len(us))
	for i, u := range us {
		eps[i] = Endpoint{Address: u.addr()}
	}
	return eps
}

func newClient(t *testing.T, res Resolver, opts ...Option) (*http.Client, *Transport) {
	t.Helper()
	tr, err := NewTransport(res, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return &http.Client{Transport: tr}, tr
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b := make([]byte, 256)
	n, _ := resp.Body.Read(b)
	return resp.StatusCode, string(b[:n])
}

// fullListener returns an address whose accept queue is full: the kernel
// drops further SYNs, so a connect hangs until the dialer's timeout. It is
// the loopback stand-in for an unreachable host.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("could not fill the accept queue of a backlog-0 listener")
	return ""
}

// metricValue reads one counter or histogram count from a registry: the
// first series of name that carries labels, 0 when none does.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	for _, m := range matching(t, reg, name, labels) {
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		if h := m.GetHistogram(); h != nil {
			return float64(h.GetSampleCount())
		}
	}
	return 0
}

// seriesCount counts the series of name that carry labels.
func seriesCount(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) int {
	t.Helper()
	return len(matching(t, reg, name, labels))
}

func matching(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}
