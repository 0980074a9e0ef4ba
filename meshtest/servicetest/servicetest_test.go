package servicetest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/meshtest/servicetest"
)

// recorder is a testing.TB that records how a helper ended the test
// instead of ending the real one.
type recorder struct {
	testing.TB
	mu           sync.Mutex
	failed, skip bool
	msg          string
	cleanups     []func()
}

func (r *recorder) end(skip bool, msg string) {
	r.mu.Lock()
	r.failed, r.skip, r.msg = !skip, skip, msg
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Fatalf(f string, a ...any) { r.end(false, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatal(a ...any)            { r.end(false, fmt.Sprint(a...)) }
func (r *recorder) Skipf(f string, a ...any)  { r.end(true, fmt.Sprintf(f, a...)) }
func (r *recorder) Skip(a ...any)             { r.end(true, fmt.Sprint(a...)) }
func (r *recorder) Cleanup(f func())          { r.cleanups = append(r.cleanups, f) }

func runHelper(t *testing.T, fn func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(r) }()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r
}

// TestMissingServer checks that each helper skips outside CI and fails in
// CI, naming what to install, when its server cannot be reached.
func TestMissingServer(t *testing.T) {
	helpers := []struct {
		name, env, value, install string
		fn                        func(testing.TB)
	}{
		{"rabbitmq", "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/", "rabbitmq-server", func(t testing.TB) { servicetest.RabbitMQ(t) }},
		{"redis", "REDIS_ADDR", "127.0.0.1:1", "redis-server", func(t testing.TB) { servicetest.Redis(t) }},
		{"postgres", "POSTGRES_DSN", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", "postgresql", func(t testing.TB) { servicetest.Postgres(t) }},
	}
	for _, h := range helpers {
		for _, ci := range []string{"", "true"} {
			t.Run(h.name+"/CI="+ci, func(t *testing.T) {
				t.Setenv(h.env, h.value)
				t.Setenv("CI", ci)
				r := runHelper(t, h.fn)
				wantSkip := ci != "true"
				if r.skip != wantSkip || r.failed == wantSkip {
					t.Fatalf("skip=%v failed=%v, want skip=%v (%s)", r.skip, r.failed, wantSkip, r.msg)
				}
				if !strings.Contains(r.msg, h.install) {
					t.Fatalf("message %q does not say to install %s", r.msg, h.install)
				}
			})
		}
	}
}

func TestRabbitMQVHost(t *testing.T) {
	t.Parallel()
	var first servicetest.RabbitMQVHost
	t.Run("isolated", func(t *testing.T) {
		first = servicetest.RabbitMQ(t)
		second := servicetest.RabbitMQ(t)
		if first.VHost == second.VHost || !strings.HasSuffix(first.URL, "/"+first.VHost) {
			t.Fatalf("vhosts %+v %+v", first, second)
		}
		ch := channel(t, first.URL)
		if _, err := ch.QueueDeclare("jobs", false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.PublishWithContext(context.Background(), "", "jobs", false, false, amqp.Publishing{Body: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
		var msg amqp.Delivery
		deadline := time.Now().Add(5 * time.Second)
		for ok := false; !ok; {
			var err error
			if msg, ok, err = ch.Get("jobs", true); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("published message not in the queue")
			}
		}
		if string(msg.Body) != "hi" {
			t.Fatalf("got %q", msg.Body)
		}
		// The other vhost does not see the queue.
		other := channel(t, second.URL)
		_, err := other.QueueDeclarePassive("jobs", false, false, false, false, nil)
		var aerr *amqp.Error
		if !errors.As(err, &aerr) || aerr.Code != amqp.NotFound {
			t.Fatalf("queue visible from another vhost: %v", err)
		}
	})
	// The vhost is gone after the subtest's cleanup.
	if c, err := amqp.Dial(first.URL); err == nil {
		c.Close()
		t.Fatalf("vhost %s still accepts connections after cleanup", first.VHost)
	}
}

func channel(t *testing.T, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestRedisPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var p servicetest.RedisPrefix
	var outside string
	t.Run("use", func(t *testing.T) {
		p = servicetest.Redis(t)
		if !strings.HasPrefix(p.Prefix, "meshtest_") || !strings.HasSuffix(p.Prefix, ":") {
			t.Fatalf("prefix %q", p.Prefix)
		}
		for i := range 1200 { // more than one SCAN batch
			if err := p.Client.Set(ctx, p.Key(fmt.Sprint("k", i)), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		outside = "servicetest-outside-" + p.Prefix
		if err := p.Client.Set(ctx, outside, "keep", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		// The URL reaches the same server.
		opt, err := redis.ParseURL(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		defer c.Close()
		if v, err := c.Get(ctx, p.Key("k7")).Result(); err != nil || v != "7" {
			t.Fatalf("via URL: %q %v", v, err)
		}
	})
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	keys, err := c.Keys(ctx, p.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("%d keys under %s left after cleanup", len(keys), p.Prefix)
	}
	if v, err := c.Get(ctx, outside).Result(); err != nil || v != "keep" {
		t.Fatalf("a key outside the prefix was touched: %q %v", v, err)
	}
	c.Del(ctx, outside)
}

func TestPostgresSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var s servicetest.PostgresSchema
	t.Run("use", func(t *testing.T) {
		s = servicetest.Postgres(t)
		other := servicetest.Postgres(t)
		conn := connect(t, s.DSN)
		if _, err := conn.Exec(ctx, "CREATE TABLE events (id int primary key)"); err != nil {
			t.Fatal(err)
		}
		var schema string
		if err := conn.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'events' AND table_schema LIKE 'meshtest_%' AND table_schema = current_schema()").Scan(&schema); err != nil {
			t.Fatalf("unqualified table not in the test schema: %v", err)
		}
		if schema != s.Schema {
			t.Fatalf("table in %s, want %s", schema, s.Schema)
		}
		// The other schema does not see it.
		oc := connect(t, other.DSN)
		if _, err := oc.Exec(ctx, "SELECT * FROM events"); err == nil {
			t.Fatal("table visible from another test's schema")
		}
	})
	conn := connect(t, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", s.Schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("schema %s still exists after cleanup", s.Schema)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
