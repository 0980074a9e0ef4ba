package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/postgres"
	"github.com/wasmesh/wasmesh/eventlog/storetest"
)

// DSN of the test server; override with EVENTLOG_PG_DSN.
func dsn() string {
	if d := os.Getenv("EVENTLOG_PG_DSN"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// requirePG skips (or, under CI=true, fails) when PostgreSQL is not there.
func requirePG(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL is not reachable at 127.0.0.1:5432 (%v): install and start postgresql with a trust-auth user postgres and database test", err)
	}
	t.Skipf("PostgreSQL not reachable: %v", err)
}

// freshSchema returns a unique schema name, dropped when the test ends.
func freshSchema(t testing.TB) string {
	name := fmt.Sprintf("eventlog_test_%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1e6))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn())
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
	})
	return name
}

func TestConformance(t *testing.T) {
	requirePG(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		schema := freshSchema(t)
		return func(t *testing.T) eventlog.Store {
			s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn(), Schema: schema})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return s
		}
	})
}

func open(t *testing.T, schema string, poll time.Duration) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn(), Schema: schema, PollInterval: poll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestTwoNodes: two stores on one schema are two nodes of one event log:
// conflicts across them are typed, and a subscriber on one sees, live and in
// order, what the other appends.
func TestTwoNodes(t *testing.T) {
	requirePG(t)
	schema := freshSchema(t)
	a, b := open(t, schema, time.Minute), open(t, schema, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Append(ctx, "n-1", eventlog.NoStream, eventlog.NewEvent("A", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "n-1", eventlog.NoStream, eventlog.NewEvent("B", nil)); !errors.Is(err, eventlog.ErrConcurrency) {
		t.Fatalf("second node's NoStream append: %v, want conflict", err)
	}
	got := make(chan eventlog.Event, 100)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go a.Subscribe(sctx, eventlog.SubscribeOptions{From: 1}, func(_ context.Context, e eventlog.Event) error {
		got <- e
		return nil
	})
	// The poll interval is a minute: only NOTIFY can deliver these in time.
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 5; i++ {
		if _, err := b.Append(ctx, "n-2", eventlog.Any, eventlog.NewEvent("B", nil)); err != nil {
			t.Fatal(err)
		}
	}
	for want := int64(2); want <= 6; want++ {
		select {
		case e := <-got:
			if e.Position != want {
				t.Fatalf("got position %d, want %d", e.Position, want)
			}
		case <-ctx.Done():
			t.Fatalf("node a did not see node b's append %d", want)
		}
	}
}

// TestPollingFallback kills the LISTEN connection: live subscriptions must
// keep delivering (by polling until the listener reconnects).
func TestPollingFallback(t *testing.T) {
	requirePG(t)
	schema := freshSchema(t)
	s := open(t, schema, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan eventlog.Event, 100)
	go s.Subscribe(ctx, eventlog.SubscribeOptions{}, func(_ context.Context, e eventlog.Event) error {
		got <- e
		return nil
	})
	admin, err := pgx.Connect(ctx, dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	for deadline := time.Now().Add(10 * time.Second); killed == 0 && time.Now().Before(deadline); {
		err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1`,
			"LISTEN "+pgx.Identifier{"eventlog_" + schema}.Sanitize()).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if killed == 0 {
		t.Fatal("found no LISTEN connection to kill")
	}
	for i := 1; i <= 3; i++ {
		if _, err := s.Append(ctx, "p-1", eventlog.Any, eventlog.NewEvent("E", nil)); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.Position != int64(i) {
				t.Fatalf("got position %d, want %d", e.Position, i)
			}
		case <-ctx.Done():
			t.Fatalf("append %d not delivered after the listener was killed", i)
		}
	}
}

// TestCloseWithAppendsInFlight: Close never leaves an Append waiting; each
// one either landed (and is readable after a reopen) or got ErrClosed.
func TestCloseWithAppendsInFlight(t *testing.T) {
	requirePG(t)
	schema := freshSchema(t)
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn(), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 40)
	for i := 0; i < 40; i++ {
		go func() {
			_, err := s.Append(context.Background(), "close-1", eventlog.Any, eventlog.NewEvent("E", nil))
			results <- err
		}()
	}
	time.Sleep(5 * time.Millisecond)
	s.Close()
	ok := 0
	for i := 0; i < 40; i++ {
		select {
		case err := <-results:
			if err == nil {
				ok++
			} else if !errors.Is(err, eventlog.ErrClosed) {
				t.Fatalf("append during close: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("an append hung across Close")
		}
	}
	s2 := open(t, schema, time.Second)
	if got, _ := s2.ReadStream(context.Background(), "close-1", 1, eventlog.Forward, 100); len(got) != ok {
		t.Fatalf("%d appends acknowledged, %d stored", ok, len(got))
	}
}
