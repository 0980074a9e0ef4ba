// Package containers lets the meshtest helpers that need a server
// (etcdtest, servicetest) start it in a Docker container with
// testcontainers-go when the machine lacks it. Import it for its side
// effect, in the test files that want the fallback:
//
//	import _ "github.com/wasmesh/wasmesh/meshtest/containers"
//
// The helpers' API does not change. Each one still uses the machine's
// binary or service when it can (that stays the default); only when that
// is missing and a Docker engine answers does it start a container, which
// its t.Cleanup (or the cleanup/Close of the New forms) removes. With
// neither, the test skips, or fails when CI=true, naming what to install.
//
// It is a package of its own so that importing etcdtest or servicetest
// does not link the Docker client and its dependencies into a test binary
// that never asked for containers.
package containers
