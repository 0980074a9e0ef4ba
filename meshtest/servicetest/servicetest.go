package servicetest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// ErrUnavailable means the server cannot be reached or managed; the error
// wrapping it says what to install or start. The testing.TB helpers turn
// it into a skip, or a failure when CI=true.
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
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
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
