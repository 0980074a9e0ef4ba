// Command tracing is a Proxy-Wasm filter that propagates W3C trace context
// and B3, makes x-request-id and a correlation id when missing (echoed on
// the response), and hands each span to the host, which exports it with
// OpenTelemetry. See README.md.
package main

import (
	"github.com/wasmesh/wasmesh/filters/tracing/tracing"
	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

func init() { sdk.SetNewPlugin(tracing.New) }

func main() {}
