package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

func TestBalancingSpread(t *testing.T) {
	us := []*upstream{newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")}
	tests := []struct {
		policy string
		min    int64 // fewest requests any of the 3 may get out of 300
	}{
		{"round_robin", 100},
		{"least_request", 50},
		{"random", 50},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			for _, u := range us {
				u.hits.Store(0)
			}
			res := NewStaticResolver(map[string][]Endpoint{"orders": endpoints(us...)})
			c, _ := newClient(t, res, WithPolicy(tt.policy))
			for range 300 {
				if code, _ := get(t, c, "http://orders/x"); code != 200 {
					t.Fatalf("status %d", code)
				}
			}
			for _, u := range us {
				if h := u.hits.Load(); h < tt.min {
					t.Errorf("%s got %d of 300, want at least %d", u.name, h, tt.min)
				}
			}
		})
	}
}

func TestHashPolicySticks(t *testing.T) {
	us := []*upstream{newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")}
	res := NewStaticResolver(map[string][]Endpoint{"carts": endpoints(us...)})
	c, _ := newClient(t, res, WithPolicy("ring_hash"), WithHashKey(func(r *http.Request) []byte {
		return []byte(r.Header.Get("X-User"))
	}))
	owners := map[string]string{}
	for i := range 60 {
		user := fmt.Sprintf("user-%d", i%6)
		req, _ := http.NewRequest("GET", "http://carts/", nil)
		req.Header.Set("X-User", user)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if prev, ok := owners[user]; ok && prev != string(b) {
			t.Fatalf("%s moved from %s to %s", user, prev, b)
		}
		owners[user] = string(b)
	}
}

func TestEndpointsChangeUnderLoad(t *testing.T) {
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	res := NewStaticResolver(map[string][]Endpoint{"orders": endpoints(a, b)})
	cl, _ := newClient(t, res)
	var failures, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := cl.Get("http://orders/")
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return a.hits.Load() > 20 && b.hits.Load() > 20 })
	if err := res.Set("orders", endpoints(b, c)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.hits.Load() > 20 })
	if err := res.Set("orders", endpoints(c)); err != nil {
		t.Fatal(err)
	}
	cBefore := c.hits.Load()
	waitFor(t, func() bool { return c.hits.Load() > cBefore+50 })
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed while endpoints changed", f, done.Load())
	}
	// From now on only c serves.
	aHits, bHits := a.hits.Load(), b.hits.Load()
	for range 30 {
		if _, body := get(t, cl, "http://orders/"); body != "c" {
			t.Fatalf("served by %q after c became the only endpoint", body)
		}
	}
	if a.hits.Load() != aHits || b.hits.Load() != bHits {
		t.Fatal("a removed endpoint still got requests")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	good, bad := newUpstream(t, "good"), newUpstream(t, "bad")
	bad.failing.Store(500)
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	res := NewStaticResolver(map[string][]Endpoint{"pay": endpoints(good, bad)})
	c, _ := newClient(t, res, WithMetrics(m), WithRetry(RetryPolicy{MaxAttempts: 1}),
		WithBreaker(BreakerConfig{ConsecutiveFailures: 3, CoolDown: 1500 * time.Millisecond}))

	// Round robin alternates: after 6 requests bad has failed 3 times.
	for range 6 {
		get(t, c, "http://pay/")
	}
	if h := bad.hits.Load(); h != 3 {
		t.Fatalf("bad got %d requests before tripping, want 3", h)
	}
	// Open: bad is skipped, every request goes to good.
	for range 20 {
		if code, body := get(t, c, "http://pay/"); code != 200 || body != "good" {
			t.Fatalf("open breaker: got %d %q", code, body)
		}
	}
	if h := bad.hits.Load(); h != 3 {
		t.Fatalf("bad got %d requests while open, want 3", h)
	}
	// After the cool-down a probe reaches bad; it still fails: open again.
	waitFor(t, func() bool { get(t, c, "http://pay/"); return bad.hits.Load() == 4 })
	for range 10 {
		get(t, c, "http://pay/")
	}
	if h := bad.hits.Load(); h != 4 {
		t.Fatalf("failed probe did not reopen the breaker: bad has %d hits", h)
	}
	// bad recovers: the next probe succeeds and closes the breaker, and
	// bad takes its share again.
	bad.failing.Store(0)
	waitFor(t, func() bool { get(t, c, "http://pay/"); return bad.hits.Load() == 5 })
	before := bad.hits.Load()
	for range 20 {
		if code, _ := get(t, c, "http://pay/"); code != 200 {
			t.Fatalf("status %d after recovery", code)
		}
	}
	if got := bad.hits.Load() - before; got < 8 {
		t.Fatalf("closed breaker: bad got %d of 20, want about half", got)
	}
	for _, to := range []string{"open", "half_open", "closed"} {
		if v := metricValue(t, reg, "wasmesh_http_client_breaker_transitions_total", map[string]string{"service": "pay", "to": to}); v < 1 {
			t.Errorf("no breaker transition to %s recorded", to)
		}
	}
}

func TestAllCircuitsOpenFailsFast(t *testing.T) {
	bad := newUpstream(t, "bad")
	bad.failing.Store(503)
	res := NewStaticResolver(map[string][]Endpoint{"pay": endpoints(bad)})
	c, _ := newClient(t, res, WithRetry(RetryPolicy{MaxAttempts: 1}),
		WithBreaker(BreakerConfig{ConsecutiveFailures: 2, CoolDown: time.Hour}))
	get(t, c, "http://pay/")
	get(t, c, "http://pay/")
	_, err := c.Get("http://pay/")
	if !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrCircuitOpen (an ErrUnavailable)", err)
	}
	if h := bad.hits.Load(); h != 2 {
		t.Fatalf("an open circuit let a request through (%d hits)", h)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		ctx       func(context.Context) context.Context
		policy    RetryPolicy
		failFirst int
		wantCode  int
		wantHits  int64
	}{
		{"GET retried until success", "GET", nil, RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond}, 2, 200, 3},
		{"GET gives up after max attempts", "GET", nil, RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond}, 5, 503, 3},
		{"POST not retried", "POST", nil, RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond}, 1, 503, 1},
		{"POST retried when the context allows", "POST", AllowRetry, RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond}, 1, 200, 2},
		{"POST retried when the policy allows", "POST", nil, RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, NonIdempotent: true}, 2, 200, 3},
		{"retries off", "GET", nil, RetryPolicy{MaxAttempts: 1}, 1, 503, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			var bodies []string
			var mu sync.Mutex
			srv := newUpstream(t, "x")
			srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies = append(bodies, string(b))
				mu.Unlock()
				if hits.Add(1) <= int64(tt.failFirst) {
					w.WriteHeader(503)
					return
				}
				w.WriteHeader(200)
			})
			res := NewStaticResolver(map[string][]Endpoint{"svc": endpoints(srv)})
			c, _ := newClient(t, res, WithRetry(tt.policy), WithBreaker(BreakerConfig{ConsecutiveFailures: -1}))
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			req, _ := http.NewRequestWithContext(ctx, tt.method, "http://svc/", strings.NewReader("payload"))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || hits.Load() != tt.wantHits {
				t.Fatalf("status %d after %d tries, want %d after %d", resp.StatusCode, hits.Load(), tt.wantCode, tt.wantHits)
			}
			for i, b := range bodies {
				if b != "payload" {
					t.Fatalf("try %d got body %q: the body was not replayed", i, b)
				}
			}
		})
	}
}

// TestRetryBudget: against a service that always fails, retries stay
// within the budget's share of requests instead of tripling the load.
func TestRetryBudget(t *testing.T) {
	bad := newUpstream(t, "bad")
	bad.failing.Store(503)
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	res := NewStaticResolver(map[string][]Endpoint{"svc": endpoints(bad)})
	c, _ := newClient(t, res, WithMetrics(m), WithBreaker(BreakerConfig{ConsecutiveFailures: -1}),
		WithRetry(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond, BudgetRatio: 0.1, BudgetMinPerSecond: -1}))
	for range 100 {
		if code, _ := get(t, c, "http://svc/"); code != 503 {
			t.Fatalf("status %d", code)
		}
	}
	hits := bad.hits.Load()
	retries := metricValue(t, reg, "wasmesh_http_client_retries_total", map[string]string{"service": "svc"})
	if hits-100 != int64(retries) {
		t.Fatalf("%d hits for 100 requests but %v retries counted", hits, retries)
	}
	// 10% of 100 requests: 10 retries (without a budget it would be 200).
	if retries < 9 || retries > 10 {
		t.Fatalf("%v retries, want about 10 (10%% of 100)", retries)
	}
}

func TestRetryMovesToAnotherEndpoint(t *testing.T) {
	good := newUpstream(t, "good")
	dead := newUpstream(t, "dead")
	deadAddr := dead.addr()
	dead.srv.Close() // connection refused from now on
	res := NewStaticResolver(map[string][]Endpoint{"svc": {{Address: deadAddr}, {Address: good.addr()}}})
	c, _ := newClient(t, res, WithRetry(RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond}))
	for range 10 {
		if code, body := get(t, c, "http://svc/"); code != 200 || body != "good" {
			t.Fatalf("got %d %q", code, body)
		}
	}
}

func TestTimeouts(t *testing.T) {
	slowHeaders := newUpstream(t, "slow")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slowHeaders.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	slowBody := newUpstream(t, "slowbody")
	slowBody.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first part"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	blackhole := fullListener(t)

	tests := []struct {
		name    string
		addr    string
		opts    []Option
		inBody  bool   // the timeout hits while reading the body
		wantMsg string // in the error text
	}{
		{"connect", blackhole, []Option{WithConnectTimeout(100 * time.Millisecond)}, false, "i/o timeout"},
		{"read", slowHeaders.addr(), []Option{WithReadTimeout(100 * time.Millisecond)}, false, "timeout awaiting response headers"},
		{"total before headers", slowHeaders.addr(), []Option{WithTotalTimeout(150 * time.Millisecond)}, false, "total timeout"},
		{"total while reading the body", slowBody.addr(), []Option{WithTotalTimeout(150 * time.Millisecond)}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := NewStaticResolver(map[string][]Endpoint{"svc": {{Address: tt.addr}}})
			c, _ := newClient(t, res, append(tt.opts, WithRetry(RetryPolicy{MaxAttempts: 1}))...)
			start := time.Now()
			resp, err := c.Get("http://svc/")
			if tt.inBody {
				if err != nil {
					t.Fatalf("headers should arrive: %v", err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDeadlineExceeded) {
					t.Fatalf("body read err = %v, want deadline exceeded", err)
				}
			} else {
				if err == nil {
					resp.Body.Close()
					t.Fatal("no error")
				}
				if !errors.Is(err, ErrDeadlineExceeded) {
					t.Fatalf("err = %v, want ErrDeadlineExceeded", err)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantMsg)
				}
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("took %v: the timeout did not cut the request", el)
			}
		})
	}
}

// TestPerTryTimeoutsRetried: a hung or unreachable endpoint costs one
// per-try timeout, then the retry goes to a good one.
func TestPerTryTimeoutsRetried(t *testing.T) {
	good := newUpstream(t, "good")
	hung := newUpstream(t, "hung")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hung.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	tests := []struct {
		name string
		bad  string
		opt  Option
	}{
		{"read timeout", hung.addr(), WithReadTimeout(100 * time.Millisecond)},
		{"connect timeout", fullListener(t), WithConnectTimeout(100 * time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := NewStaticResolver(map[string][]Endpoint{"svc": {{Address: tt.bad}, {Address: good.addr()}}})
			c, _ := newClient(t, res, tt.opt, WithRetry(RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond}))
			for range 4 { // round robin: every other request starts on the bad one
				if code, body := get(t, c, "http://svc/"); code != 200 || body != "good" {
					t.Fatalf("got %d %q", code, body)
				}
			}
		})
	}
}

func TestHeadersPropagated(t *testing.T) {
	u := newUpstream(t, "u")
	res := NewStaticResolver(map[string][]Endpoint{"svc": endpoints(u)})
	c, _ := newClient(t, res, WithTokenSource(StaticToken("tok-1")))

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	ctx = WithCorrelationID(ctx, "corr-42")
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://svc/path", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, _ := u.lastRequest()
	checks := map[string]string{
		"Traceparent":      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"X-Correlation-Id": "corr-42",
		"Authorization":    "Bearer tok-1",
	}
	for h, want := range checks {
		if v := got.Header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	if got.Host != "svc" {
		t.Errorf("Host = %q, want the logical name", got.Host)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the caller's request was modified")
	}

	// Without a correlation id one is made; an explicit Authorization wins.
	req, _ = http.NewRequest("GET", "http://svc/", nil)
	req.Header.Set("Authorization", "Basic abc")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, _ = u.lastRequest()
	if len(got.Header.Get("X-Correlation-Id")) != 36 {
		t.Errorf("generated correlation id %q is not a UUID", got.Header.Get("X-Correlation-Id"))
	}
	if got.Header.Get("Authorization") != "Basic abc" {
		t.Errorf("Authorization = %q, want the caller's", got.Header.Get("Authorization"))
	}
}

func TestFileTokenReloads(t *testing.T) {
	u := newUpstream(t, "u")
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err := NewFileToken(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	res := NewStaticResolver(map[string][]Endpoint{"svc": endpoints(u)})
	c, _ := newClient(t, res, WithTokenSource(ts))
	get(t, c, "http://svc/")
	if r, _ := u.lastRequest(); r.Header.Get("Authorization") != "Bearer first" {
		t.Fatalf("Authorization = %q", r.Header.Get("Authorization"))
	}
	if err := os.WriteFile(path, []byte("second-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	get(t, c, "http://svc/")
	if r, _ := u.lastRequest(); r.Header.Get("Authorization") != "Bearer second-token" {
		t.Fatalf("after rotation Authorization = %q", r.Header.Get("Authorization"))
	}
	// A vanished file keeps the last good token.
	os.Remove(path)
	if tok, err := ts.Token(context.Background()); err != nil || tok != "second-token" {
		t.Fatalf("after removal: %q, %v", tok, err)
	}
	if _, err := NewFileToken(path, 0); err == nil {
		t.Fatal("NewFileToken on a missing file: no error")
	}
}

func TestResolutionErrors(t *testing.T) {
	res := NewStaticResolver(map[string][]Endpoint{"empty": nil})
	c, _ := newClient(t, res)
	_, err := c.Get("http://empty/")
	if !errors.Is(err, ErrNoEndpoints) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("no endpoints: err = %v", err)
	}
	_, err = c.Get("http://nosuch/")
	if !errors.Is(err, ErrUnknownService) || !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown service: err = %v", err)
	}

	// With a fallback, unknown hosts go out as plain HTTP.
	outside := newUpstream(t, "outside")
	c2, _ := newClient(t, res, WithFallback(http.DefaultTransport))
	if _, body := get(t, c2, "http://"+outside.addr()+"/"); body != "outside" {
		t.Errorf("fallback got %q", body)
	}
	if _, err := NewTransport(res, WithPolicy("nope")); err == nil {
		t.Error("unknown policy accepted")
	}
}

func TestMetricsRecorded(t *testing.T) {
	ok, bad, gone := newUpstream(t, "ok"), newUpstream(t, "bad"), newUpstream(t, "gone")
	bad.failing.Store(500)
	gone.srv.Close() // connection refused: no response at all
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	res := NewStaticResolver(map[string][]Endpoint{"ok": endpoints(ok), "bad": endpoints(bad), "gone": endpoints(gone), "empty": nil})
	c, _ := newClient(t, res, WithMetrics(m), WithBreaker(BreakerConfig{ConsecutiveFailures: -1}),
		WithRetry(RetryPolicy{MaxAttempts: 1}))
	for range 5 {
		get(t, c, "http://ok/")
		get(t, c, "http://bad/")
	}
	ok.failing.Store(404)
	get(t, c, "http://ok/")
	for _, svc := range []string{"gone", "empty"} {
		if _, err := c.Get("http://" + svc + "/"); err == nil {
			t.Fatalf("%s: no error", svc)
		}
	}
	const dur, errs = "wasmesh_http_client_request_duration_seconds", "wasmesh_http_client_errors_total"
	for _, w := range []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{dur, map[string]string{"service": "ok", "code_class": "2xx", "outcome": "success"}, 5},
		{dur, map[string]string{"service": "ok", "code_class": "4xx", "outcome": "success"}, 1},
		{dur, map[string]string{"service": "bad", "code_class": "5xx", "outcome": "error"}, 5},
		{dur, map[string]string{"service": "gone", "code_class": "5xx", "outcome": "error"}, 1},
		{dur, map[string]string{"service": "empty", "code_class": "5xx", "outcome": "error"}, 1},
		{errs, map[string]string{"service": "bad", "error_type": "status_5xx"}, 5},
		{errs, map[string]string{"service": "gone", "error_type": "connect"}, 1},
		{errs, map[string]string{"service": "empty", "error_type": "no_endpoints"}, 1},
		{errs, map[string]string{"service": "ok"}, 0},
	} {
		if got := metricValue(t, reg, w.name, w.labels); got != w.v {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	// Series are made on first use: ok saw 2xx and 4xx, nothing else.
	if n := seriesCount(t, reg, dur, map[string]string{"service": "ok"}); n != 2 {
		t.Errorf("service ok has %d duration series, want 2 (2xx, 4xx)", n)
	}

	// 500 is not retried by default, 503 is: make bad answer 503.
	c2, _ := newClient(t, res, WithMetrics(m), WithBreaker(BreakerConfig{ConsecutiveFailures: -1}))
	bad.failing.Store(503)
	get(t, c2, "http://bad/")
	if got := metricValue(t, reg, "wasmesh_http_client_retries_total", map[string]string{"service": "bad"}); got != 2 {
		t.Errorf("retries = %v, want 2", got)
	}
	// One observation per request, retries included.
	if got := metricValue(t, reg, dur, map[string]string{"service": "bad"}); got != 6 {
		t.Errorf("bad: %v requests observed, want 6", got)
	}
}

func TestMetricsNamespace(t *testing.T) {
	ok := newUpstream(t, "ok")
	reg := prometheus.NewRegistry()
	m := NewMetricsWithNamespace("app")
	reg.MustRegister(m)
	c, _ := newClient(t, NewStaticResolver(map[string][]Endpoint{"ok": endpoints(ok)}), WithMetrics(m))
	get(t, c, "http://ok/")
	if got := metricValue(t, reg, "app_http_client_request_duration_seconds", map[string]string{"service": "ok", "code_class": "2xx"}); got != 1 {
		t.Errorf("app_http_client_request_duration_seconds = %v, want 1", got)
	}
}

func TestLoadStaticResolver(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		wantErr    string
	}{
		{"ok", "services:\n  orders:\n    - address: 127.0.0.1:8080\n      weight: 2\n", ""},
		{"unknown field", "services:\n  orders:\n    - address: 127.0.0.1:8080\n      wieght: 2\n", "wieght"},
		{"bad address", "services:\n  orders:\n    - address: nohost\n", "host:port"},
		{"bad port", "services:\n  orders:\n    - address: h:99999\n", "bad port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".yaml")
			os.WriteFile(p, []byte(tt.yaml), 0o600)
			r, err := LoadStaticResolver(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eps, err := r.Resolve(context.Background(), "orders")
			if err != nil || len(eps) != 1 || eps[0].Weight != 2 {
				t.Fatalf("Resolve = %v, %v", eps, err)
			}
		})
	}
}
