package wasm

import (
	"os"
	"testing"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/wasmbuild"
)

// goModule builds the Go guest in dir and returns its bytes.
func goModule(t testing.TB, dir string) []byte {
	t.Helper()
	path, err := wasmbuild.Build(dir, "../../wasm-sdk")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
