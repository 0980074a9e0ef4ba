// Package ratelimit is a Proxy-Wasm filter with token buckets shared by
// every VM of the plugin (shared data with compare-and-swap) and an optional
// global limit shared by many meshd instances through Redis (a host foreign
// function). See ../README.md.
//
// filters/rate-limit builds it alone; filters/bundle builds it with the other
// built-in filters into one module.
package ratelimit
