package fasthttpmap

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRequest(t *testing.T) {
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.Header.SetRequestURI("/a?b=1")
	req.Header.SetHost("svc")
	req.Header.Set("X-Api-Key", "k")
	req.Header.Add("Accept", "a")
	h := &Request{H: &req.Header, Scheme: "https"}
	for key, want := range map[string]string{":method": "POST", ":path": "/a?b=1", ":authority": "svc", ":scheme": "https", "x-api-key": "k"} {
		if v, ok := h.Get(key); !ok || v != want {
			t.Errorf("Get(%s) = %q %v, want %q", key, v, ok, want)
		}
	}
	if _, ok := h.Get("x-missing"); ok {
		t.Error("missing header found")
	}
	h.Set(":path", "/b")
	h.Add("x-new", "1")
	h.Remove("x-api-key")
	h.Set("accept", "b")
	if string(req.Header.RequestURI()) != "/b" || string(req.Header.Peek("X-New")) != "1" || req.Header.Peek("X-Api-Key") != nil || string(req.Header.Peek("Accept")) != "b" {
		t.Fatalf("edits not applied: %s", req.Header.String())
	}
	pairs := h.Pairs(nil)
	if len(pairs) != h.Len() {
		t.Fatalf("Pairs %d vs Len %d: %q", len(pairs), h.Len(), pairs)
	}
	seen := map[string]string{}
	for _, p := range pairs {
		seen[p[0]] = p[1]
	}
	if seen[":method"] != "POST" || seen["x-new"] != "1" || seen["accept"] != "b" || seen[":scheme"] != "https" {
		t.Fatalf("pairs = %q", pairs)
	}
	if _, ok := seen["host"]; ok {
		t.Fatal("host duplicated :authority")
	}
}

func TestResponse(t *testing.T) {
	var resp fasthttp.Response
	resp.SetStatusCode(201)
	resp.Header.Set("X-Trace", "t")
	h := &Response{H: &resp.Header}
	if v, _ := h.Get(":status"); v != "201" {
		t.Fatalf(":status = %q", v)
	}
	h.Set(":status", "503")
	h.Add("x-request-id", "r")
	h.Remove("x-trace")
	if resp.StatusCode() != 503 || string(resp.Header.Peek("X-Request-Id")) != "r" || resp.Header.Peek("X-Trace") != nil {
		t.Fatalf("edits not applied: %s", resp.Header.String())
	}
	pairs := h.Pairs(nil)
	if len(pairs) != h.Len() || pairs[0] != [2]string{":status", "503"} {
		t.Fatalf("pairs = %q", pairs)
	}
}
