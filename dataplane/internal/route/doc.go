// Package route compiles route matches and virtual-host domains into
// matchers that run on a fasthttp request without allocating: literals as
// []byte, regexes compiled once per snapshot, header names canonical.
package route
