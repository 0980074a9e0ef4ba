package middleware

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/brokers"
)

// DedupStore remembers which message ids were handled. Claim is atomic, so
// two consumers sharing a store never both handle one id.
type DedupStore interface {
	// Claim reserves id for ttl; it returns false when id is already claimed
	// or was handled within its window.
	Claim(ctx context.Context, id string, ttl time.Duration) (bool, error)
	// Commit marks id handled for window.
	Commit(ctx context.Context, id string, window time.Duration) error
	// Release drops a claim whose handler failed, so a redelivery runs.
	Release(ctx context.Context, id string) error
}

// DedupOptions configure Dedup.
type DedupOptions struct {
	// Window is how long a handled id is remembered (default 10 minutes).
	Window time.Duration
	// ClaimTTL bounds how long an id stays reserved while its handler runs,
	// so a consumer that dies mid-handler does not block the id forever
	// (default 1 minute).
	ClaimTTL time.Duration
}

// Dedup skips (and acks) a message whose id was already handled within the
// window, which turns at-least-once delivery into effectively-once handling
// for idempotent-by-id work. A failed handler releases its claim so the
// redelivery is handled. Store errors are returned: the message is nacked
// and retried rather than handled twice or lost.
func Dedup(store DedupStore, o DedupOptions) brokers.Middleware {
	if o.Window <= 0 {
		o.Window = 10 * time.Minute
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = time.Minute
	}
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) error {
			id := d.Message.ID
			if id == "" {
				return next(ctx, d)
			}
			ok, err := store.Claim(ctx, id, o.ClaimTTL)
			if err != nil {
				return fmt.Errorf("dedup claim %s: %w", id, err)
			}
			if !ok {
				return nil
			}
			if herr := next(ctx, d); herr != nil {
				if rerr := store.Release(context.WithoutCancel(ctx), id); rerr != nil {
					return fmt.Errorf("%w (and dedup release failed: %v)", herr, rerr)
				}
				return herr
			}
			if err := store.Commit(context.WithoutCancel(ctx), id, o.Window); err != nil {
				return fmt.Errorf("dedup commit %s: %w", id, err)
			}
			return nil
		}
	}
}

// MemoryStore is a DedupStore for one process.
type MemoryStore struct {
	mu      sync.Mutex
	expires map[string]time.Time
	now     func() time.Time
	ops     int
}

// NewMemoryStore returns an empty in-process store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{expires: map[string]time.Time{}, now: time.Now}
}

// Claim implements DedupStore.
func (s *MemoryStore) Claim(_ context.Context, id string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.ops++; s.ops%1024 == 0 {
		for k, exp := range s.expires {
			if !now.Before(exp) {
				delete(s.expires, k)
			}
		}
	}
	if exp, ok := s.expires[id]; ok && now.Before(exp) {
		return false, nil
	}
	s.expires[id] = now.Add(ttl)
	return true, nil
}

// Commit implements DedupStore.
func (s *MemoryStore) Commit(_ context.Context, id string, window time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expires[id] = s.now().Add(window)
	return nil
}

// Release implements DedupStore.
func (s *MemoryStore) Release(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expires, id)
	return nil
}

// RedisStore is a DedupStore shared by many consumers through Redis keys
// (SET NX PX), so a message redelivered to another node is still skipped.
type RedisStore struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedisStore keeps ids under keys prefix+id (prefix e.g. "dedup:orders:").
func NewRedisStore(c redis.UniversalClient, prefix string) *RedisStore {
	return &RedisStore{c: c, prefix: prefix}
}

// Claim implements DedupStore.
func (s *RedisStore) Claim(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	err := s.c.SetArgs(ctx, s.prefix+id, "claimed", redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	if err == redis.Nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis dedup claim: %w", err)
	}
	return true, nil
}

// Commit implements DedupStore.
func (s *RedisStore) Commit(ctx context.Context, id string, window time.Duration) error {
	if err := s.c.Set(ctx, s.prefix+id, "done", window).Err(); err != nil {
		return fmt.Errorf("redis dedup commit: %w", err)
	}
	return nil
}

// Release implements DedupStore.
func (s *RedisStore) Release(ctx context.Context, id string) error {
	if err := s.c.Del(ctx, s.prefix+id).Err(); err != nil {
		return fmt.Errorf("redis dedup release: %w", err)
	}
	return nil
}
