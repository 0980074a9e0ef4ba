package servicetest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// RedisPrefix is a test's own key space on a shared Redis.
type RedisPrefix struct {
	// Client is connected to the server; it is closed at cleanup.
	Client *redis.Client
	// URL is "redis://host:port/0", for code that opens its own client
	// (brokers/redis's Options.URL).
	URL string
	// Prefix starts every key the test may use ("meshtest_<test>_<rand>:").
	Prefix string
}

// Key returns Prefix+name.
func (r RedisPrefix) Key(name string) string { return r.Prefix + name }

// Redis connects to the Redis at REDIS_ADDR (default 127.0.0.1:6379),
// picks a unique key prefix, and at t.Cleanup deletes every key that
// starts with it. Code under test must put its keys under Prefix (most
// Wasmesh components take a prefix option); keys outside it are not
// cleaned up.
func Redis(t testing.TB) RedisPrefix {
	t.Helper()
	r, cleanup, err := NewRedis(t.Name())
	require(t, err)
	cleanupIn(t, cleanup)
	return r
}

// NewRedis is Redis without a test (TestMain, examples): label goes into
// the prefix, and the caller runs cleanup. An unreachable server, with no
// container instead, yields an error wrapping ErrUnavailable.
func NewRedis(label string) (RedisPrefix, func() error, error) {
	var r RedisPrefix
	cleanup, err := provide(provision.Redis, env("REDIS_ADDR", "127.0.0.1:6379"), func(addr string, _ execFunc) (cleanup func() error, err error) {
		r, cleanup, err = redisAt(addr, label)
		return cleanup, err
	})
	if err != nil {
		return RedisPrefix{}, nil, err
	}
	return r, cleanup, nil
}

// redisAt is NewRedis on the server at addr.
func redisAt(addr, label string) (RedisPrefix, func() error, error) {
	unreachable := func(err error) error {
		return fmt.Errorf("%w: Redis is not reachable at %s (%v): install and start it "+
			"(apt-get install -y redis-server && service redis-server start) or set REDIS_ADDR", ErrUnavailable, addr, err)
	}
	// A plain dial first: the client's retries would make a missing
	// server take seconds to report.
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return RedisPrefix{}, nil, unreachable(err)
	}
	conn.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return RedisPrefix{}, nil, unreachable(err)
	}
	prefix := uniqueName(label, "_", 80) + ":"
	cleanup := func() error {
		defer client.Close()
		return deletePrefix(client, prefix)
	}
	return RedisPrefix{Client: client, URL: "redis://" + addr + "/0", Prefix: prefix}, cleanup, nil
}

// deletePrefix removes every key under prefix, scanning in batches so a
// large key space does not block the server. The prefix holds no glob
// characters (uniqueName), so it can go into MATCH as is.
func deletePrefix(c *redis.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	batch := make([]string, 0, 500)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := c.Unlink(ctx, batch...).Err(); err != nil {
			return fmt.Errorf("servicetest: delete keys under %s: %w", prefix, err)
		}
		batch = batch[:0]
		return nil
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("servicetest: scan keys under %s: %w", prefix, err)
	}
	return flush()
}
