package dataplane

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// These adapters show a request or response to a Wasm filter the way
// Envoy does: lower-case names, and pseudo-headers (:method, :path,
// :authority, :scheme; :status) before the others. Edits go straight into
// the request or response meshd forwards.

type fastReqHeaders struct {
	req *fasthttp.Request
	tls bool
}

func (h *fastReqHeaders) Get(k string) (string, bool) {
	switch k {
	case ":method":
		return string(h.req.Header.Method()), true
	case ":path":
		return string(h.req.RequestURI()), true
	case ":authority":
		return string(h.req.Host()), true
	case ":scheme":
		if h.tls {
			return "https", true
		}
		return "http", true
	}
	v := h.req.Header.Peek(k)
	if v == nil {
		return "", false
	}
	return string(v), true
}

func (h *fastReqHeaders) Set(k, v string) {
	switch k {
	case ":method":
		h.req.Header.SetMethod(v)
	case ":path":
		h.req.SetRequestURI(v)
	case ":authority":
		h.req.Header.SetHost(v)
	case ":scheme":
	default:
		h.req.Header.Set(k, v)
	}
}

func (h *fastReqHeaders) Add(k, v string) {
	if strings.HasPrefix(k, ":") {
		h.Set(k, v)
		return
	}
	h.req.Header.Add(k, v)
}

func (h *fastReqHeaders) Remove(k string) {
	if !strings.HasPrefix(k, ":") {
		h.req.Header.Del(k)
	}
}

func (h *fastReqHeaders) Pairs(dst [][2]string) [][2]string {
	for _, k := range []string{":method", ":path", ":authority", ":scheme"} {
		v, _ := h.Get(k)
		dst = append(dst, [2]string{k, v})
	}
	h.req.Header.VisitAll(func(k, v []byte) {
		if string(k) == "Host" {
			return
		}
		dst = append(dst, [2]string{strings.ToLower(string(k)), string(v)})
	})
	return dst
}

func (h *fastReqHeaders) Len() int { return h.req.Header.Len() + 3 }

type fastRespHeaders struct{ resp *fasthttp.Response }

func (h *fastRespHeaders) Get(k string) (string, bool) {
	if k == ":status" {
		return strconv.Itoa(h.resp.StatusCode()), true
	}
	v := h.resp.Header.Peek(k)
	if v == nil {
		return "", false
	}
	return string(v), true
}

func (h *fastRespHeaders) Set(k, v string) {
	if k == ":status" {
		if n, err := strconv.Atoi(v); err == nil {
			h.resp.SetStatusCode(n)
		}
		return
	}
	h.resp.Header.Set(k, v)
}

func (h *fastRespHeaders) Add(k, v string) {
	if k == ":status" {
		h.Set(k, v)
		return
	}
	h.resp.Header.Add(k, v)
}

func (h *fastRespHeaders) Remove(k string) {
	if k != ":status" {
		h.resp.Header.Del(k)
	}
}

func (h *fastRespHeaders) Pairs(dst [][2]string) [][2]string {
	dst = append(dst, [2]string{":status", strconv.Itoa(h.resp.StatusCode())})
	h.resp.Header.VisitAll(func(k, v []byte) {
		dst = append(dst, [2]string{strings.ToLower(string(k)), string(v)})
	})
	return dst
}

func (h *fastRespHeaders) Len() int { return h.resp.Header.Len() + 1 }

type httpReqHeaders struct{ r *http.Request }

func (h *httpReqHeaders) Get(k string) (string, bool) {
	switch k {
	case ":method":
		return h.r.Method, true
	case ":path":
		return h.r.URL.RequestURI(), true
	case ":authority":
		return h.r.Host, true
	case ":scheme":
		if h.r.TLS != nil {
			return "https", true
		}
		return "http", true
	}
	vs, ok := h.r.Header[http.CanonicalHeaderKey(k)]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func (h *httpReqHeaders) Set(k, v string) {
	switch k {
	case ":method":
		h.r.Method = v
	case ":path":
		if u, err := h.r.URL.Parse(v); err == nil {
			h.r.URL = u
		}
	case ":authority":
		h.r.Host = v
	case ":scheme":
	default:
		h.r.Header.Set(k, v)
	}
}

func (h *httpReqHeaders) Add(k, v string) {
	if strings.HasPrefix(k, ":") {
		h.Set(k, v)
		return
	}
	h.r.Header.Add(k, v)
}

func (h *httpReqHeaders) Remove(k string) {
	if !strings.HasPrefix(k, ":") {
		h.r.Header.Del(k)
	}
}

func (h *httpReqHeaders) Pairs(dst [][2]string) [][2]string {
	for _, k := range []string{":method", ":path", ":authority", ":scheme"} {
		v, _ := h.Get(k)
		dst = append(dst, [2]string{k, v})
	}
	for k, vs := range h.r.Header {
		lk := strings.ToLower(k)
		for _, v := range vs {
			dst = append(dst, [2]string{lk, v})
		}
	}
	return dst
}

func (h *httpReqHeaders) Len() int { return len(h.r.Header) + 4 }

// httpRespHeaders is the response of an HTTP/2 request before it is
// written: the header map and the status meshd will send.
type httpRespHeaders struct {
	h      http.Header
	status *int
}

func (h *httpRespHeaders) Get(k string) (string, bool) {
	if k == ":status" {
		return strconv.Itoa(*h.status), true
	}
	vs, ok := h.h[http.CanonicalHeaderKey(k)]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func (h *httpRespHeaders) Set(k, v string) {
	if k == ":status" {
		if n, err := strconv.Atoi(v); err == nil {
			*h.status = n
		}
		return
	}
	h.h.Set(k, v)
}

func (h *httpRespHeaders) Add(k, v string) {
	if k == ":status" {
		h.Set(k, v)
		return
	}
	h.h.Add(k, v)
}

func (h *httpRespHeaders) Remove(k string) {
	if k != ":status" {
		h.h.Del(k)
	}
}

func (h *httpRespHeaders) Pairs(dst [][2]string) [][2]string {
	dst = append(dst, [2]string{":status", strconv.Itoa(*h.status)})
	for k, vs := range h.h {
		lk := strings.ToLower(k)
		for _, v := range vs {
			dst = append(dst, [2]string{lk, v})
		}
	}
	return dst
}

func (h *httpRespHeaders) Len() int { return len(h.h) + 1 }
