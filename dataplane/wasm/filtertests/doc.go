// Package filtertests runs the built-in filters of filters/ (jwt-auth,
// rate-limit, tracing), built to .wasm, on the real host, with inputs made by
// independent libraries (golang-jwt for tokens, go-redis for the global
// limit). It has no code of its own besides the tests and benchmarks.
package filtertests
