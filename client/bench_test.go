package client

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures the SDK transport's overhead: the same GET
// against the same loopback server, through a plain http.Client and
// through one whose transport is the SDK's (resolve, balance, breaker,
// retry bookkeeping, headers).
//
//	go test -run '^$' -bench RoundTrip -benchmem ./client/
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	run := func(b *testing.B, c *http.Client, url string) {
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("plain", func(b *testing.B) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		run(b, &http.Client{Transport: tr}, "http://"+addr+"/")
	})
	b.Run("sdk", func(b *testing.B) {
		res := NewStaticResolver(map[string][]Endpoint{"bench": {{Address: addr}}})
		tr, err := NewTransport(res, WithMetrics(NewMetrics()))
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		run(b, &http.Client{Transport: tr}, "http://bench/")
	})
	b.Run("sdk-token-timeout", func(b *testing.B) {
		res := NewStaticResolver(map[string][]Endpoint{"bench": {{Address: addr}}})
		tr, err := NewTransport(res, WithMetrics(NewMetrics()), WithTokenSource(StaticToken(strings.Repeat("t", 400))),
			WithTotalTimeout(5e9), WithReadTimeout(5e9))
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		run(b, &http.Client{Transport: tr}, "http://bench/")
	})
}

// BenchmarkRoundTripPaired alternates a plain and an SDK request in each
// iteration and times them separately, so both see the same machine load;
// on a busy machine it measures the overhead better than two sub-benchmarks
// run one after the other. Reports plain-ns/op, sdk-ns/op and
// overhead-ns/op (their difference).
func BenchmarkRoundTripPaired(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	ptr := http.DefaultTransport.(*http.Transport).Clone()
	defer ptr.CloseIdleConnections()
	plain := &http.Client{Transport: ptr}
	res := NewStaticResolver(map[string][]Endpoint{"bench": {{Address: addr}}})
	tr, err := NewTransport(res, WithMetrics(NewMetrics()))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	sdk := &http.Client{Transport: tr}
	do := func(c *http.Client, url string) time.Duration {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	var tp, ts time.Duration
	n := 0
	for b.Loop() {
		tp += do(plain, "http://"+addr+"/")
		ts += do(sdk, "http://bench/")
		n++
	}
	b.ReportMetric(float64(tp.Nanoseconds())/float64(n), "plain-ns/op")
	b.ReportMetric(float64(ts.Nanoseconds())/float64(n), "sdk-ns/op")
	b.ReportMetric(float64((ts-tp).Nanoseconds())/float64(n), "overhead-ns/op")
}
