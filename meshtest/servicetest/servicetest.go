package servicetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// ErrUnavailable means the server cannot be reached or managed, and no
// container could be started instead; the error wrapping it says what to
// install or start. The testing.TB helpers turn it into a skip, or a
// failure when CI=true.
var ErrUnavailable = errors.New("servicetest: server unavailable")

// require turns an error from a New function into the test's outcome.
func require(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) {
		unavailable(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// cleanupIn registers cleanup with t, reporting its error.
func cleanupIn(t testing.TB, cleanup func() error) {
	t.Cleanup(func() {
		if err := cleanup(); err != nil {
			t.Errorf("servicetest: cleanup: %v", err)
		}
	})
}

// unavailable ends the test because a server is missing: a failure when
// CI=true (CI must run every test), a skip otherwise.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	provision.End(t, provision.CI(), fmt.Errorf(format, args...))
}

// execFunc runs a command beside the server (rabbitmqctl in its
// container); nil for the machine's own server.
type execFunc func(ctx context.Context, cmd ...string) ([]byte, error)

// provide runs setup on the machine's server at url. When that server is
// unavailable (setup's error wraps ErrUnavailable), the test binary
// imports meshtest/containers and a Docker engine answers, it starts a
// container for this call instead, runs setup on it, and the returned
// cleanup also removes the container.
func provide(svc provision.Service, url string, setup func(url string, exec execFunc) (func() error, error)) (func() error, error) {
	var cleanup func() error
	var setupErr error
	engine := provision.Registered()
	path, err := provision.Decide(context.Background(), provision.Probes{
		Local: func() error {
			cleanup, setupErr = setup(url, nil)
			if errors.Is(setupErr, ErrUnavailable) {
				return setupErr
			}
			return nil // usable; any other error is the caller's
		},
		Docker: provision.DockerProbe(engine),
	})
	switch path {
	case provision.Local:
		return cleanup, setupErr
	case provision.Missing:
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a first image pull takes a while
	defer cancel()
	srv, err := engine.Service(ctx, svc)
	if err != nil {
		return nil, fmt.Errorf("servicetest: %s container: %w", svc, err)
	}
	cleanup, err = setup(srv.URL, srv.Exec)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("servicetest: on %s: %w", srv.What, err), srv.Close())
	}
	return func() error { return errors.Join(cleanup(), srv.Close()) }, nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// uniqueName is "meshtest_<test name>_<random>", made of [a-z0-9_] only
// and at most max bytes, so it is a valid vhost, key prefix and SQL
// identifier without quoting surprises.
func uniqueName(label, sep string, max int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	var sb strings.Builder
	for _, r := range strings.ToLower(label) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			sb.WriteRune(r)
		default:
			sb.WriteString(sep)
		}
	}
	name := strings.Trim(sb.String(), sep)
	if room := max - len("meshtest")*1 - 2*len(sep) - len(suffix); len(name) > room {
		name = name[:room]
	}
	return "meshtest" + sep + name + sep + suffix
}
