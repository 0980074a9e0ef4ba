// Command jwt-auth is a Proxy-Wasm filter that authenticates requests with
// JSON Web Tokens. See README.md for its configuration.
package main

import (
	"github.com/wasmesh/wasmesh/filters/jwt-auth/jwtauth"
	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

func init() { sdk.SetNewPlugin(jwtauth.New) }

func main() {}
