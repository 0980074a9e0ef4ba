package redislimit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestFixedWindow(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379 is required: %v", err)
		}
		t.Skipf("no Redis: %v", err)
	}
	key := fmt.Sprintf("wasmesh:test:redislimit:%d:%d", os.Getpid(), time.Now().UnixNano())
	defer c.Del(ctx, key)
	f := New(c, time.Second)
	args, _ := json.Marshal(Request{Key: key, Window: 30})
	for i := int64(1); i <= 3; i++ {
		out, err := f(ctx, args)
		if err != nil {
			t.Fatal(err)
		}
		var r Response
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		if r.Count != i || r.TTL <= 0 || r.TTL > 30 {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
	for _, bad := range []string{`{}`, `{"key":"k"}`, `nope`} {
		if _, err := f(ctx, []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
