// Package redislimit is the host side of the rate-limit filter's global
// limit: a foreign function that counts requests in a fixed window in Redis,
// shared by every meshd instance that uses the same Redis.
//
// Register it with the Runtime:
//
//	wasm.RuntimeConfig{ForeignFunctions: map[string]wasm.ForeignFunc{
//		redislimit.Name: redislimit.New(redisClient, 50*time.Millisecond),
//	}}
package redislimit
