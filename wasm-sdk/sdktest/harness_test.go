package sdktest_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
	"github.com/wasmesh/wasmesh/wasm-sdk/sdktest"
)

// demo is a small filter exercising most of the SDK.
type demo struct {
	greeting string
	ticks    int
	hits     sdk.Metric
}

func (p *demo) OnConfigure(cfg []byte) error {
	if string(cfg) == "bad" {
		return errors.New("bad config")
	}
	p.greeting = string(cfg)
	p.hits = sdk.DefineCounter("demo.hits")
	return sdk.SetTickPeriod(time.Second)
}

func (p *demo) OnTick() { p.ticks++ }

func (p *demo) NewHTTPFilter(uint32) sdk.HTTPFilter { return &demoFilter{p: p} }

type demoFilter struct {
	sdk.DefaultHTTPFilter
	p *demo
}

func (f *demoFilter) OnRequestHeaders(int, bool) sdk.Action {
	f.p.hits.Increment(1)
	path, _ := sdk.Property("request", "path")
	switch string(path) {
	case "/deny":
		sdk.SendLocalResponse(403, [][2]string{{"x-why", "denied"}}, []byte("no"))
		return sdk.Pause
	case "/call":
		err := sdk.HTTPCall("authz", [][2]string{{":method", "GET"}, {":path", "/ok"}, {":authority", "authz"}}, nil, time.Second,
			func(r sdk.HTTPCallResponse) {
				if r.Status == 200 {
					sdk.SetRequestHeader("x-authz", string(r.Body))
					sdk.ResumeRequest()
					return
				}
				sdk.SendLocalResponse(401, nil, nil)
			})
		if err != nil {
			return sdk.Continue
		}
		return sdk.Pause
	case "/count":
		for {
			v, cas, err := sdk.SharedData("n")
			n := 0
			if err == nil {
				n, _ = strconv.Atoi(string(v))
			}
			if sdk.SetSharedData("n", []byte(strconv.Itoa(n+1)), cas) == nil {
				break
			}
		}
	}
	sdk.AddRequestHeader("x-greeting", f.p.greeting)
	sdk.RemoveRequestHeader("x-secret")
	return sdk.Continue
}

func (f *demoFilter) OnResponseHeaders(int, bool) sdk.Action {
	id, _ := sdk.RequestHeader("x-request-id")
	sdk.SetResponseHeader("x-request-id", id)
	return sdk.Continue
}

func (f *demoFilter) OnResponseBody(size int, end bool) sdk.Action {
	b, _ := sdk.ResponseBody()
	sdk.ReplaceResponseBody(append(b, '!'))
	return sdk.Continue
}

func newDemo(t *testing.T, cfg string) *sdktest.Host {
	t.Helper()
	sdk.SetNewPlugin(func(uint32) sdk.Plugin { return &demo{} })
	h, err := sdktest.New(sdktest.Options{Config: []byte(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func req(path string, extra ...[2]string) [][2]string {
	return append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "svc"}}, extra...)
}

func TestHarnessHeadersAndBody(t *testing.T) {
	h := newDemo(t, "hello")
	s := h.NewStream(nil)
	if a := s.SendRequestHeaders(req("/", [2]string{"x-secret", "1"}, [2]string{"x-request-id", "abc"}), true); a != sdk.Continue {
		t.Fatalf("action %v", a)
	}
	if s.RequestHeader("x-greeting") != "hello" || s.HasRequestHeader("x-secret") {
		t.Fatalf("headers = %q", s.RequestHeaders)
	}
	s.SendResponseHeaders([][2]string{{":status", "200"}}, false)
	if s.ResponseHeader("x-request-id") != "abc" {
		t.Fatalf("response headers = %q", s.ResponseHeaders)
	}
	s.SendResponseBody([]byte("body"), true)
	if string(s.ResponseBody) != "body!" {
		t.Fatalf("body = %q", s.ResponseBody)
	}
	s.Done()
	if n, _ := h.Metric("demo.hits"); n != 1 {
		t.Fatalf("demo.hits = %d", n)
	}
}

func TestHarnessLocalResponse(t *testing.T) {
	h := newDemo(t, "x")
	s := h.NewStream(nil)
	s.SendRequestHeaders(req("/deny"), true)
	if s.Local == nil || s.Local.Status != 403 || s.Local.Header("x-why") != "denied" || string(s.Local.Body) != "no" {
		t.Fatalf("local = %+v", s.Local)
	}
}

func TestHarnessHTTPCall(t *testing.T) {
	tests := []struct {
		status      int
		wantResumed bool
		wantLocal   int
	}{
		{200, true, 0},
		{500, false, 401},
		{0, false, 401}, // the call failed
	}
	for _, tt := range tests {
		h := newDemo(t, "x")
		s := h.NewStream(nil)
		if a := s.SendRequestHeaders(req("/call"), true); a != sdk.Pause {
			t.Fatalf("action %v", a)
		}
		calls := h.PendingHTTPCalls()
		if len(calls) != 1 || calls[0].Cluster != "authz" || calls[0].Header(":path") != "/ok" || calls[0].Timeout != time.Second {
			t.Fatalf("calls = %+v", calls)
		}
		h.RespondHTTPCall(calls[0], tt.status, nil, []byte("yes"))
		if s.Resumed() != tt.wantResumed || s.Paused() {
			t.Fatalf("status %d: resumed=%v paused=%v", tt.status, s.Resumed(), s.Paused())
		}
		if tt.wantResumed && s.RequestHeader("x-authz") != "yes" {
			t.Fatalf("x-authz = %q", s.RequestHeader("x-authz"))
		}
		if tt.wantLocal != 0 && (s.Local == nil || s.Local.Status != tt.wantLocal) {
			t.Fatalf("local = %+v", s.Local)
		}
	}
}

func TestHarnessSharedDataAndTicks(t *testing.T) {
	h := newDemo(t, "x")
	for i := 0; i < 5; i++ {
		s := h.NewStream(nil)
		s.SendRequestHeaders(req("/count"), true)
		s.Done()
	}
	if v, _ := h.SharedData("n"); string(v) != "5" {
		t.Fatalf("n = %q", v)
	}
	if h.TickPeriod() != time.Second {
		t.Fatalf("tick period %v", h.TickPeriod())
	}
}

func TestHarnessRefusedConfig(t *testing.T) {
	sdk.SetNewPlugin(func(uint32) sdk.Plugin { return &demo{} })
	if _, err := sdktest.New(sdktest.Options{Config: []byte("bad")}); err == nil {
		t.Fatal("bad config accepted")
	}
}
