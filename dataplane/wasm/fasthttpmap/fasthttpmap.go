package fasthttpmap

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
)

// Request is a fasthttp request header as a wasm.HeaderMap.
type Request struct {
	H      *fasthttp.RequestHeader
	Scheme string // "http" or "https"; fasthttp does not keep it in the header
}

var (
	_ wasm.HeaderMap = (*Request)(nil)
	_ wasm.HeaderMap = (*Response)(nil)
)

// lower returns b as a lower-case string.
func lower(b []byte) string {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			out := make([]byte, len(b))
			for i, c := range b {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				out[i] = c
			}
			return string(out)
		}
	}
	return string(b)
}

// Get implements wasm.HeaderMap.
func (r *Request) Get(key string) (string, bool) {
	switch key {
	case ":method":
		return string(r.H.Method()), true
	case ":path":
		return string(r.H.RequestURI()), true
	case ":authority":
		return string(r.H.Host()), true
	case ":scheme":
		return r.Scheme, r.Scheme != ""
	}
	v := r.H.Peek(key)
	if v == nil {
		return "", false
	}
	return string(v), true
}

// Set implements wasm.HeaderMap.
func (r *Request) Set(key, value string) {
	switch key {
	case ":method":
		r.H.SetMethod(value)
	case ":path":
		r.H.SetRequestURI(value)
	case ":authority":
		r.H.SetHost(value)
	case ":scheme":
		r.Scheme = value
	default:
		r.H.Set(key, value)
	}
}

// Add implements wasm.HeaderMap (a pseudo-header is set, not added).
func (r *Request) Add(key, value string) {
	if len(key) > 0 && key[0] == ':' {
		r.Set(key, value)
		return
	}
	r.H.Add(key, value)
}

// Remove implements wasm.HeaderMap (pseudo-headers cannot be removed).
func (r *Request) Remove(key string) {
	if len(key) > 0 && key[0] == ':' {
		return
	}
	r.H.Del(key)
}

// Pairs implements wasm.HeaderMap.
func (r *Request) Pairs(dst [][2]string) [][2]string {
	dst = append(dst,
		[2]string{":method", string(r.H.Method())},
		[2]string{":path", string(r.H.RequestURI())},
		[2]string{":authority", string(r.H.Host())})
	if r.Scheme != "" {
		dst = append(dst, [2]string{":scheme", r.Scheme})
	}
	for k, v := range r.H.All() {
		if lk := lower(k); lk != "host" {
			dst = append(dst, [2]string{lk, string(v)})
		}
	}
	return dst
}

// Len implements wasm.HeaderMap.
func (r *Request) Len() int {
	n := 3
	if r.Scheme != "" {
		n++
	}
	for k := range r.H.All() {
		if lower(k) != "host" {
			n++
		}
	}
	return n
}

// Response is a fasthttp response header as a wasm.HeaderMap.
type Response struct{ H *fasthttp.ResponseHeader }

// Get implements wasm.HeaderMap.
func (r *Response) Get(key string) (string, bool) {
	if key == ":status" {
		return strconv.Itoa(r.H.StatusCode()), true
	}
	v := r.H.Peek(key)
	if v == nil {
		return "", false
	}
	return string(v), true
}

// Set implements wasm.HeaderMap.
func (r *Response) Set(key, value string) {
	if key == ":status" {
		if n, err := strconv.Atoi(value); err == nil {
			r.H.SetStatusCode(n)
		}
		return
	}
	r.H.Set(key, value)
}

// Add implements wasm.HeaderMap.
func (r *Response) Add(key, value string) {
	if key == ":status" {
		r.Set(key, value)
		return
	}
	r.H.Add(key, value)
}

// Remove implements wasm.HeaderMap.
func (r *Response) Remove(key string) {
	if key != ":status" {
		r.H.Del(key)
	}
}

// Pairs implements wasm.HeaderMap.
func (r *Response) Pairs(dst [][2]string) [][2]string {
	dst = append(dst, [2]string{":status", strconv.Itoa(r.H.StatusCode())})
	for k, v := range r.H.All() {
		dst = append(dst, [2]string{lower(k), string(v)})
	}
	return dst
}

// Len implements wasm.HeaderMap.
func (r *Response) Len() int {
	n := 1
	for range r.H.All() {
		n++
	}
	return n
}
