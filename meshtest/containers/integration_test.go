package containers_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmesh/wasmesh/meshtest/containers"
	"github.com/wasmesh/wasmesh/meshtest/etcdtest"
	"github.com/wasmesh/wasmesh/meshtest/servicetest"
)

// requireDocker runs the test only when asked (MESHTEST_DOCKER=1) and then
// insists on a Docker engine: these tests pull images and start real
// containers, which this project's CI machine cannot (no engine).
func requireDocker(t *testing.T) {
	t.Helper()
	if os.Getenv("MESHTEST_DOCKER") != "1" {
		t.Skip("starts real containers: run with MESHTEST_DOCKER=1 and a Docker engine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := containers.Reachable(ctx); err != nil {
		t.Fatalf("MESHTEST_DOCKER=1 but no Docker engine answers: %v", err)
	}
}

// noLocalServers points the helpers at nothing on the machine, so they
// must take the container path even where the servers are installed.
func noLocalServers(t *testing.T) {
	t.Setenv("ETCD_BIN", "/nonexistent/etcd")
	t.Setenv("REDIS_ADDR", "127.0.0.1:1")
	t.Setenv("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/")
	t.Setenv("POSTGRES_DSN", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
}

func TestEtcdInContainer(t *testing.T) {
	requireDocker(t)
	noLocalServers(t)
	s := etcdtest.Start(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	// The data survives a stop and a crash; the address stays the same.
	s.Stop(t)
	s.Restart(t)
	s.Kill(t)
	s.Restart(t)
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restarts k = %v, want v", resp.Kvs)
	}

	tlsSrv := etcdtest.Start(t, etcdtest.WithTLS())
	cfg, err := tlsSrv.TLS.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	tcli, err := clientv3.New(clientv3.Config{Endpoints: tlsSrv.Endpoints(), DialTimeout: 5 * time.Second, TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer tcli.Close()
	if _, err := tcli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
}

func TestServicesInContainers(t *testing.T) {
	requireDocker(t)
	noLocalServers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("redis", func(t *testing.T) {
		r := servicetest.Redis(t)
		if r.URL == "redis://127.0.0.1:1/0" {
			t.Fatalf("used the unreachable local address %s", r.URL)
		}
		if err := r.Client.Set(ctx, r.Key("k"), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := r.Client.Get(ctx, r.Key("k")).Result(); err != nil || v != "v" {
			t.Fatalf("get = %q, %v", v, err)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		s := servicetest.Postgres(t)
		conn, err := pgx.Connect(ctx, s.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "CREATE TABLE events (id int primary key)"); err != nil {
			t.Fatal(err)
		}
		var schema string
		if err := conn.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'events'").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if schema != s.Schema {
			t.Fatalf("table in %s, want %s", schema, s.Schema)
		}
	})

	t.Run("rabbitmq", func(t *testing.T) {
		v := servicetest.RabbitMQ(t)
		conn, err := amqp.Dial(v.URL)
		if err != nil {
			t.Fatalf("dial %s: %v", v.URL, err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclare("jobs", false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.PublishWithContext(ctx, "", "jobs", false, false, amqp.Publishing{Body: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			msg, ok, err := ch.Get("jobs", true)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				if string(msg.Body) != "hi" {
					t.Fatalf("got %q", msg.Body)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("published message not in the queue")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
