package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"golang.org/x/net/http2"
)

func TestEventLogOverHTTP(t *testing.T) {
	dir := t.TempDir()
	_, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
eventlog: {backend: file, file: {dir: %s}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {match: {prefix: /v1/streams/}, events: {}}
clusters: []
`, dir))
	code, body := post(t, url+"/v1/streams/order-1", `[{"type":"OrderPlaced","data":{"total":10}},{"type":"OrderPaid","data":{}}]`, "Expected-Version", "no-stream", "Content-Type", "application/json")
	if code != 201 {
		t.Fatalf("append: %d %s", code, body)
	}
	// The same expectation again conflicts, and says the real version.
	code, body = post(t, url+"/v1/streams/order-1", `{"type":"OrderShipped"}`, "Expected-Version", "no-stream")
	if code != 409 || !strings.Contains(body, `"actual_version":2`) {
		t.Fatalf("conflict: %d %s", code, body)
	}
	if code, body = post(t, url+"/v1/streams/order-1", `{"type":"OrderShipped"}`, "Expected-Version", "2"); code != 201 {
		t.Fatalf("append at version 2: %d %s", code, body)
	}
	code, body, _ = get(t, url+"/v1/streams/order-1")
	var evs []struct {
		Type    string          `json:"type"`
		Version int64           `json:"version"`
		Data    json.RawMessage `json:"data"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &evs) != nil || len(evs) != 3 || evs[0].Type != "OrderPlaced" || evs[2].Version != 3 {
		t.Fatalf("read: %d %s", code, body)
	}
	if code, body := post(t, url+"/v1/streams/order-1", `{"type":"X"}`, "Expected-Version", "soon"); code != 400 {
		t.Errorf("bad expected version: %d %s", code, body)
	}

	// Subscribe: the three stored events arrive (catch-up), then one
	// appended while subscribed (live).
	req, _ := http.NewRequest("GET", url+"/v1/streams/order-1", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "event: ") {
				got <- strings.TrimPrefix(line, "event: ")
			}
		}
		close(got)
	}()
	want := []string{"ready", "OrderPlaced", "OrderPaid", "OrderShipped"}
	for _, w := range want {
		select {
		case e := <-got:
			if e != w {
				t.Fatalf("event %q, want %q", e, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", w)
		}
	}
	post(t, url+"/v1/streams/order-1", `{"type":"OrderDelivered"}`)
	select {
	case e := <-got:
		if e != "OrderDelivered" {
			t.Fatalf("live event %q", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the live event did not arrive")
	}
}

// TestEventAppendTracedUnderRequest appends through meshd, over HTTP/1.1
// and h2c, with tracing to an in-process OTLP receiver, and checks each
// append's span is a child of the request's server span (a conflict's
// marked failed), and that the appends reach meshd_eventlog_* on /metrics.
func TestEventAppendTracedUnderRequest(t *testing.T) {
	otlp := startOTLP(t)
	srv, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
tracing: {otlp_endpoint: %s, service_name: meshd}
eventlog: {backend: file, file: {dir: %s}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {name: events, match: {prefix: /v1/streams/}, events: {}}
clusters: []
`, otlp.addr, t.TempDir()))
	h2c := &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, n, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, n, addr)
		}}}
	for _, c := range []struct {
		name    string
		client  *http.Client
		traceID string
		stream  string
	}{
		{"http1", client, "4bf92f3577b34da6a3ce929d0e0e4736", "order-1"},
		{"h2c", h2c, "5cf92f3577b34da6a3ce929d0e0e4737", "order-2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			appendAs := func(expected string) int {
				req, _ := http.NewRequest("POST", url+"/v1/streams/"+c.stream, strings.NewReader(`{"type":"OrderPlaced"}`))
				req.Header.Set("Expected-Version", expected)
				req.Header.Set("traceparent", "00-"+c.traceID+"-00f067aa0ba902b7-01")
				resp, err := c.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := appendAs("no-stream"); code != 201 {
				t.Fatalf("append: %d", code)
			}
			if code := appendAs("no-stream"); code != 409 {
				t.Fatalf("conflicting append: %d, want 409", code)
			}
			inTrace := func() []*tracepb.Span {
				var out []*tracepb.Span
				for _, s := range otlp.snapshot() {
					if hex.EncodeToString(s.GetTraceId()) == c.traceID {
						out = append(out, s)
					}
				}
				return out
			}
			waitFor(t, "two server and two append spans", func() bool { return len(inTrace()) >= 4 })
			server := map[string]bool{}
			var appends []*tracepb.Span
			for _, s := range inTrace() {
				switch s.GetName() {
				case "POST events":
					server[hex.EncodeToString(s.GetSpanId())] = true
				case "append order":
					appends = append(appends, s)
				}
			}
			if len(server) != 2 || len(appends) != 2 {
				t.Fatalf("%d server spans and %d append spans, want 2 and 2", len(server), len(appends))
			}
			failed := 0
			for _, s := range appends {
				if !server[hex.EncodeToString(s.GetParentSpanId())] {
					t.Errorf("append span's parent %x is not a request's server span", s.GetParentSpanId())
				}
				if s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
					failed++
				}
			}
			if failed != 1 {
				t.Errorf("%d append spans failed, want 1 (the conflict)", failed)
			}
		})
	}

	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, metrics, _ := get(t, "http://"+admin+"/metrics")
	for _, want := range []string{
		`meshd_eventlog_append_duration_seconds_count{log="file",outcome="success"} 2`,
		`meshd_eventlog_append_duration_seconds_count{log="file",outcome="error"} 2`,
		`meshd_eventlog_appends_total{log="file"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestEventLogMetricsFollowReload: a reload that opens another file log
// exports that log's counters in place of the old one's.
func TestEventLogMetricsFollowReload(t *testing.T) {
	cfg := func(dir string) string {
		return fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
eventlog: {backend: file, file: {dir: %s}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {match: {prefix: /v1/streams/}, events: {}}
clusters: []
`, dir)
	}
	srv, url := startMeshd(t, cfg(t.TempDir()))
	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	head := func() string {
		_, m, _ := get(t, "http://"+admin+"/metrics")
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, `meshd_eventlog_head_position{log="file"} `) {
				return strings.TrimPrefix(line, `meshd_eventlog_head_position{log="file"} `)
			}
		}
		return "absent"
	}
	if code, body := post(t, url+"/v1/streams/cart-1", `[{"type":"A"},{"type":"B"}]`); code != 201 {
		t.Fatalf("append: %d %s", code, body)
	}
	if h := head(); h != "2" {
		t.Fatalf("head before reload %s, want 2", h)
	}
	if err := srv.Apply(mustConfig(t, cfg(t.TempDir())), "v2"); err != nil {
		t.Fatal(err)
	}
	if h := head(); h != "0" {
		t.Fatalf("head after reload to an empty log %s, want 0", h)
	}
}
