// Package docs holds Wasmesh's cross-cutting documentation (metrics.md)
// and the tests that keep it true to the code: it has no API, only tests
// that fail when the docs drift from what the parts emit.
package docs
