// Package jwtauth is a Proxy-Wasm filter that authenticates requests with
// JSON Web Tokens. See ../README.md for its configuration.
//
// filters/jwt-auth builds it alone; filters/bundle builds it with the other
// built-in filters into one module.
package jwtauth
