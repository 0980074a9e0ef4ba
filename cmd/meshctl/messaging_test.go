package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	_ "github.com/wasmesh/wasmesh/brokers/memory"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
)

func TestPubSub(t *testing.T) {
	src, err := conf.LoadBytes([]string{"t.yaml"}, [][]byte{[]byte(`
logging: {access_log: false}
drain_grace: 1ms
brokers: [{name: mem, type: memory}]
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, direct_response: {status: 200}}]
clusters: []
`)})
	if err != nil {
		t.Fatal(err)
	}
	srv := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.Apply(src.Config, "v"); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range []string{`{"a":1}`, `{"a":2}`} {
		out, err := run(t, "pub", "mem", "orders", "--data", data, "--id", []string{"m1", "m2"}[i], "--admin", admin)
		if err != nil || !strings.Contains(out, "confirmed") {
			t.Fatalf("pub: %v %s", err, out)
		}
	}
	done := make(chan string)
	go func() {
		out, err := run(t, "sub", "mem", "orders", "--from", "earliest", "--count", "2", "--admin", admin)
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	select {
	case out := <-done:
		if !strings.Contains(out, "m1\tmeshctl.message\t{\"a\":1}") || !strings.Contains(out, "m2") {
			t.Errorf("sub output:\n%s", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("meshctl sub did not print the messages")
	}
	if _, err := run(t, "pub", "nope", "orders", "--data", "x", "--admin", admin); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("pub to a missing broker: %v", err)
	}
}
