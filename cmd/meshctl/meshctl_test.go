package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestValidate(t *testing.T) {
	out, err := run(t, "validate", "../../conf/examples/demo.yaml")
	if err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("demo: %v %s", err, out)
	}
	out, err = run(t, "validate", "--env", "prod", "../../conf/examples/demo.yaml")
	if err != nil {
		t.Fatalf("demo prod: %v %s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    routes: [{match: {prefx: /}, cluster: x}]\n"), 0o644)
	out, err = run(t, "validate", bad)
	var ex exitError
	if err == nil || !errorsAs(err, &ex) || ex.code != 1 {
		t.Fatalf("bad config: err %v", err)
	}
	for _, want := range []string{`bad.yaml:4`, `unknown field "prefx"`, `did you mean "prefix"?`, `cluster "x", which does not exist`, "problem(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _ = run(t, "validate", "-o", "json", bad)
	var v struct {
		Valid    bool           `json:"valid"`
		Problems []conf.Problem `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Valid || len(v.Problems) < 2 {
		t.Errorf("json output: %v %s", err, out)
	}
}

func errorsAs(err error, ex *exitError) bool {
	e, ok := err.(exitError)
	*ex = e
	return ok
}

func TestInspectRunningMeshd(t *testing.T) {
	up, _ := net.Listen("tcp", "127.0.0.1:0")
	go http.Serve(up, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer up.Close()
	src, err := conf.LoadBytes([]string{"t.yaml"}, [][]byte{[]byte(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, cluster: api, timeout: 1s}]
clusters:
  - name: api
    endpoints: [{address: ` + up.Addr().String() + `}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	srv := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.Apply(src.Config, "abc123"); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	admin, err := srv.ServeAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr("ingress") + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"status"}, []string{"config_version", "abc123", "LIVE"}},
		{[]string{"routes"}, []string{"LISTENER", "ingress", "prefix=/", "cluster api", "1s"}},
		{[]string{"clusters"}, []string{"CLUSTER", "api", "round_robin"}},
		{[]string{"endpoints", "api"}, []string{up.Addr().String(), "healthy", "100.0%", "config"}},
		{[]string{"stats", "--filter", "http_server_request"}, []string{"meshd_http_server_request_duration_seconds", "code_class=2xx", "outcome=success", "route=ingress-0"}},
		{[]string{"config"}, []string{"version: abc123", "clusters:"}},
		{[]string{"clusters", "-o", "json"}, []string{`"name": "api"`}},
		{[]string{"routes", "-o", "yaml"}, []string{"listener: ingress"}},
	}
	for _, tt := range tests {
		out, err := run(t, append(tt.args, "--admin", admin)...)
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
	if _, err := run(t, "status", "--admin", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "cannot reach meshd") {
		t.Errorf("unreachable admin: %v", err)
	}
}
