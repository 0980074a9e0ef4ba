package servicetest

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// PostgresSchema is a test's own schema on a shared database.
type PostgresSchema struct {
	// DSN connects with search_path set to Schema, so unqualified table
	// names land there (pgx, pgxpool, eventlog's PostgreSQL store).
	DSN string
	// Schema is the schema's name.
	Schema string
}

// Postgres creates a fresh schema in the database at POSTGRES_DSN
// (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and
// drops it, with everything in it, at t.Cleanup. Close your connections
// before the test ends (register their Close with t.Cleanup after calling
// Postgres), or the drop waits on their locks.
func Postgres(t testing.TB) PostgresSchema {
	t.Helper()
	s, cleanup, err := NewPostgres(t.Name())
	require(t, err)
	cleanupIn(t, cleanup)
	return s
}

// NewPostgres is Postgres without a test (TestMain, examples): label goes
// into the schema's name, and the caller runs cleanup. An unreachable
// server, with no container instead, yields an error wrapping
// ErrUnavailable.
func NewPostgres(label string) (PostgresSchema, func() error, error) {
	var s PostgresSchema
	base := env("POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	cleanup, err := provide(provision.Postgres, base, func(dsn string, _ execFunc) (cleanup func() error, err error) {
		s, cleanup, err = postgresAt(dsn, label)
		return cleanup, err
	})
	if err != nil {
		return PostgresSchema{}, nil, err
	}
	return s, cleanup, nil
}

// postgresAt is NewPostgres on the database at base.
func postgresAt(base, label string) (PostgresSchema, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return PostgresSchema{}, nil, fmt.Errorf("%w: PostgreSQL is not reachable at %s (%v): install and start it "+
			"(apt-get install -y postgresql && service postgresql start), create the database, or set POSTGRES_DSN",
			ErrUnavailable, redact(base), err)
	}
	defer conn.Close(context.Background())
	schema := uniqueName(label, "_", 63)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return PostgresSchema{}, nil, fmt.Errorf("servicetest: create schema %s: %w", schema, err)
	}
	cleanup := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("servicetest: drop schema %s: %w", schema, err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			return fmt.Errorf("servicetest: drop schema %s: %w", schema, err)
		}
		return nil
	}
	dsn, err := withSearchPath(base, schema)
	if err != nil {
		_ = cleanup()
		return PostgresSchema{}, nil, fmt.Errorf("servicetest: POSTGRES_DSN: %w", err)
	}
	return PostgresSchema{DSN: dsn, Schema: schema}, cleanup, nil
}

// withSearchPath adds search_path to a URL-form DSN; pgx sends unknown
// query parameters as run-time parameters.
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("want a postgres:// URL, got %q", redact(dsn))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}
