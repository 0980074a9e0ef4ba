package dataplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// findTool looks a command up in PATH and in Go's bin folder. Without it
// the test fails in CI and skips elsewhere.
func findTool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(home, "go", "bin")} {
		if p := filepath.Join(dir, name); dir != "" && fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed: %s (.ci/run does this)", name, install)
	}
	t.Skipf("%s is not installed: %s", name, install)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// TestGrpcurlThroughMeshd has an independent gRPC client, grpcurl, list
// services by server reflection (a bidirectional stream) and call a method,
// all through meshd.
func TestGrpcurlThroughMeshd(t *testing.T) {
	grpcurl := findTool(t, "grpcurl", "go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4")
	b := startGRPC(t, "g1")
	_, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /}, cluster: grpc, timeout: 30s}]
clusters:
  - {name: grpc, protocol: grpc, endpoints: [{address: %s}]}
`, b.addr))
	addr := strings.TrimPrefix(url, "http://")
	out, err := exec.Command(grpcurl, "-plaintext", addr, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "grpc.testing.TestService") {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	out, err = exec.Command(grpcurl, "-plaintext", "-d", `{"response_size": 3}`, addr, "grpc.testing.TestService/UnaryCall").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"serverId": "g1"`) || !strings.Contains(string(out), `"body": "AAAA"`) {
		t.Fatalf("grpcurl call: %v\n%s", err, out)
	}
}
