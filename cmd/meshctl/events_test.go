package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
)

func TestEventsCommands(t *testing.T) {
	src, err := conf.LoadBytes([]string{"t.yaml"}, [][]byte{[]byte(fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
eventlog: {backend: file, file: {dir: %s}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, direct_response: {status: 200}}]
clusters: []
`, t.TempDir()))})
	if err != nil {
		t.Fatal(err)
	}
	srv := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.Apply(src.Config, "v"); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	admin, _ := srv.ServeAdmin("127.0.0.1:0", nil)
	if out, err := run(t, "events", "append", "cart-7", "--type", "ItemAdded", "--data", `{"sku":"x"}`, "--expected-version", "no-stream", "--admin", admin); err != nil {
		t.Fatalf("append: %v %s", err, out)
	}
	if _, err := run(t, "events", "append", "cart-7", "--type", "ItemAdded", "--expected-version", "no-stream", "--admin", admin); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("conflicting append: %v", err)
	}
	out, err := run(t, "events", "read", "cart-7", "--admin", admin)
	if err != nil || !strings.Contains(out, "ItemAdded") || !strings.Contains(out, `{"sku":"x"}`) {
		t.Errorf("read: %v\n%s", err, out)
	}
	out, err = run(t, "events", "stats", "--admin", admin)
	if err != nil || !strings.Contains(out, "head_position\t1") && !strings.Contains(out, "head_position  1") {
		t.Errorf("stats: %v\n%s", err, out)
	}
	done := make(chan string)
	go func() {
		out, err := run(t, "events", "tail", "--count", "2", "--admin", admin)
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	time.Sleep(200 * time.Millisecond)
	run(t, "events", "append", "cart-8", "--type", "CartOpened", "--admin", admin)
	select {
	case out := <-done:
		if !strings.Contains(out, "cart-7@1\tItemAdded") || !strings.Contains(out, "cart-8@1\tCartOpened") {
			t.Errorf("tail:\n%s", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not print two events")
	}
}
