package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/redis"
)

// The server kills this broker's connections (CLIENT KILL, only ours, found
// by client name): the Streams consumer reconnects and carries on, and
// nothing published is lost.
func TestStreamsSurviveKilledConnections(t *testing.T) {
	requireRedis(t)
	ctx := context.Background()
	name := "wasmesh-test-" + uuid.NewString()[:8]
	b, err := redis.New(ctx, redis.Options{URL: url + "?client_name=" + name, Block: brokers.Duration(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	stream := topic(t, b)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Subscribe(sctx, stream, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	publishAndReceive := func(payload string) {
		t.Helper()
		m := brokers.NewMessage([]byte(payload))
		if err := b.Publish(ctx, stream, m); err != nil {
			t.Fatalf("publish %s: %v", payload, err)
		}
		select {
		case d := <-ch:
			if d.Message.ID != m.ID {
				t.Fatalf("got %q, want %q", d.Message.Payload, payload)
			}
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not received", payload)
		}
	}
	publishAndReceive("before")

	admin := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer admin.Close()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
					killed++
				}
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no connection named %s found to kill", name)
	}
	publishAndReceive("after")
	t.Logf("killed %d connections", killed)
}
