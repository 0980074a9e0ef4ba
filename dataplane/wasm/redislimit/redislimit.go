package redislimit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
)

// Name is the foreign function name the rate-limit filter calls.
const Name = "wasmesh.redis_ratelimit"

// Request is the guest's argument (JSON).
type Request struct {
	Key    string `json:"key"`
	Window int    `json:"window_seconds"`
}

// Response is the result (JSON): the window's count including this request,
// and the seconds until the window resets.
type Response struct {
	Count int64 `json:"count"`
	TTL   int64 `json:"ttl"`
}

// INCR and, for the window's first request, EXPIRE, atomically.
var script = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`)

// New returns the foreign function. timeout bounds the Redis round trip (it
// runs inside the guest's callback); on error the guest fails open.
func New(c redis.UniversalClient, timeout time.Duration) wasm.ForeignFunc {
	if timeout <= 0 {
		timeout = 50 * time.Millisecond
	}
	return func(ctx context.Context, args []byte) ([]byte, error) {
		var req Request
		if err := json.Unmarshal(args, &req); err != nil {
			return nil, fmt.Errorf("redislimit: bad request: %w", err)
		}
		if req.Key == "" || req.Window <= 0 {
			return nil, fmt.Errorf("redislimit: key and window_seconds are required")
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res, err := script.Run(ctx, c, []string{req.Key}, req.Window).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("redislimit: %w", err)
		}
		if len(res) != 2 {
			return nil, fmt.Errorf("redislimit: unexpected reply %v", res)
		}
		return json.Marshal(Response{Count: res[0], TTL: res[1]})
	}
}
