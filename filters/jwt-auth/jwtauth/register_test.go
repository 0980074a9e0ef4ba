package jwtauth

import sdk "github.com/wasmesh/wasmesh/wasm-sdk"

// The native tests run the filter through sdktest, which uses the
// registered factory.
func init() { sdk.SetNewPlugin(New) }
