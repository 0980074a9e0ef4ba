// Command rate-limit is a Proxy-Wasm filter with token buckets shared by
// every VM of the plugin (shared data with compare-and-swap) and an optional
// global limit shared by many meshd instances through Redis (a host foreign
// function). See README.md.
package main

import (
	"github.com/wasmesh/wasmesh/filters/rate-limit/ratelimit"
	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

func init() { sdk.SetNewPlugin(ratelimit.New) }

func main() {}
