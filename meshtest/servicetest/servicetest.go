package servicetest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// unavailable ends the test because a server is missing: a failure when
// CI=true (CI must run every test), a skip otherwise.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("servicetest: "+format, args...)
	}
	t.Skipf("servicetest: "+format, args...)
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
func uniqueName(t testing.TB, sep string, max int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	var sb strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
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
