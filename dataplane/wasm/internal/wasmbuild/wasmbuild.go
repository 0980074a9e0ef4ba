// Package wasmbuild builds Go guests to .wasm for tests and benchmarks:
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, cached in the temp
// directory by a hash of the sources, so only the first run pays the build.
package wasmbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

var mu sync.Mutex

// CacheDir is the wazero compilation cache tests share.
var CacheDir = filepath.Join(os.TempDir(), "wasmesh-test-cache")

// Build compiles the main package in pkgDir; hashDirs are other source trees
// (the SDK, the module root) whose changes must trigger a rebuild. It
// returns the path of the .wasm file.
func Build(pkgDir string, hashDirs ...string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, root := range append([]string{abs}, hashDirs...) {
		root, _ = filepath.Abs(root)
		var files []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "go.mod")) {
				files = append(files, p)
			}
			return nil
		})
		sort.Strings(files)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			h.Write([]byte(f))
			h.Write(b)
		}
	}
	dir := filepath.Join(os.TempDir(), "wasmesh-test-wasm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(abs)+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out, precompile(out)
	}
	goBin := goTool()
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", tmp, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building Go guest %s: %w\n%s", pkgDir, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, precompile(out)
}

func goTool() string {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		return "go"
	}
	return goBin
}

// precompile fills CacheDir with the module's machine code using a build
// without -race (once per module), since wazero's compiler is very slow
// under the race detector.
func precompile(wasmPath string) error {
	if !raceEnabled {
		return nil
	}
	marker := wasmPath + ".precompiled"
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	cmd := exec.Command(goTool(), "run", "github.com/wasmesh/wasmesh/dataplane/wasm/internal/precompile", "-cache", CacheDir, wasmPath)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("precompiling %s: %w\n%s", wasmPath, err, b)
	}
	return os.WriteFile(marker, nil, 0o644)
}
