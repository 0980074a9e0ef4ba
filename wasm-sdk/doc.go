// Package sdk is the Wasmesh guest SDK: write a Proxy-Wasm HTTP filter in Go,
// build it with the standard toolchain
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm .
//
// and load it in meshd (or any Proxy-Wasm 0.2.1 host, such as Envoy).
//
// A filter is a [Plugin] (the root context: configuration, timers, queues)
// that makes an [HTTPFilter] per request. Register the plugin factory from
// an init function; main stays empty because a c-shared module never runs
// it:
//
//	func init() { sdk.SetNewPlugin(func(uint32) sdk.Plugin { return &myPlugin{} }) }
//	func main() {}
//
// Host functions (headers, bodies, local responses, http calls, shared data,
// queues, properties, metrics, logs) are package-level functions acting on
// the current request. Package sdktest runs the same filter natively, so its
// logic is unit-tested with plain `go test`.
//
// The SDK exports wasmesh_gc, which the Wasmesh host calls every ~1000
// callbacks: a Go guest's garbage collector does not otherwise get to run
// between exported calls, and a busy filter's memory would grow without end.
package sdk
