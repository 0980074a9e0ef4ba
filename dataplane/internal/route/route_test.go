package route

import (
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
)

func req(method, uri string, headers ...string) *fasthttp.Request {
	r := &fasthttp.Request{}
	r.Header.SetMethod(method)
	r.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		name  string
		match conf.Match
		req   *fasthttp.Request
		want  bool
	}{
		{"prefix hit", conf.Match{Prefix: "/api/"}, req("GET", "/api/users"), true},
		{"prefix miss", conf.Match{Prefix: "/api/"}, req("GET", "/apix"), false},
		{"exact hit", conf.Match{Path: "/healthz"}, req("GET", "/healthz"), true},
		{"exact miss on longer", conf.Match{Path: "/healthz"}, req("GET", "/healthz/x"), false},
		{"exact ignores query", conf.Match{Path: "/a"}, req("GET", "/a?x=1"), true},
		{"regex whole path", conf.Match{Regex: `/users/[0-9]+`}, req("GET", "/users/42"), true},
		{"regex anchored", conf.Match{Regex: `/users/[0-9]+`}, req("GET", "/users/42/x"), false},
		{"method hit", conf.Match{Prefix: "/", Methods: []string{"get", "POST"}}, req("POST", "/"), true},
		{"method miss", conf.Match{Prefix: "/", Methods: []string{"GET"}}, req("DELETE", "/"), false},
		{"header hit", conf.Match{Prefix: "/", Headers: map[string]string{"x-canary": "1"}}, req("GET", "/", "X-Canary", "1"), true},
		{"header wrong value", conf.Match{Prefix: "/", Headers: map[string]string{"x-canary": "1"}}, req("GET", "/", "X-Canary", "2"), false},
		{"header absent", conf.Match{Prefix: "/", Headers: map[string]string{"x-canary": "1"}}, req("GET", "/"), false},
		{"query hit", conf.Match{Prefix: "/", Query: map[string]string{"v": "2"}}, req("GET", "/?v=2&x=y"), true},
		{"query miss", conf.Match{Prefix: "/", Query: map[string]string{"v": "2"}}, req("GET", "/?v=3"), false},
		{"normalized dot segments", conf.Match{Prefix: "/admin"}, req("GET", "/public/../admin/x"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.match)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Match(tt.req, tt.req.URI().Path()); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	m, _ := NewMatcher(conf.Match{Prefix: "/api/"})
	if got := string(m.Rewrite(nil, []byte("/api/users"), "/v2/")); got != "/v2/users" {
		t.Errorf("rewrite = %q", got)
	}
}

func TestHosts(t *testing.T) {
	h := NewHosts([][]string{{"api.example.com"}, {"*.example.com"}, {"*"}, {"www.*"}})
	tests := map[string]int{
		"api.example.com":      0,
		"API.example.com:8080": 0,
		"x.example.com":        1,
		"other.org":            2,
		"www.foo":              3,
	}
	for host, want := range tests {
		if got := h.Select([]byte(host)); got != want {
			t.Errorf("Select(%q) = %d, want %d", host, got, want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	m, _ := NewMatcher(conf.Match{Prefix: "/api/", Headers: map[string]string{"x-canary": "1"}})
	r := req("GET", "/api/users?id=1", "X-Canary", "1")
	b.ReportAllocs()
	for b.Loop() {
		m.Match(r, r.URI().Path())
	}
}
