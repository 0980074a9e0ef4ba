// Package fasthttpmap adapts fasthttp's request and response headers to
// wasm.HeaderMap, with the pseudo-headers Proxy-Wasm filters expect
// (:method, :path, :authority, :scheme on a request; :status on a
// response) and lower-case keys. It is separate from package wasm so the
// host itself does not depend on fasthttp.
package fasthttpmap
