// Command upstream is the origin server of the side-by-side HTTP benchmark
// (bench/run.sh). It is a bare fasthttp server with fixed bodies so that
// every proxy in the comparison is measured against the same, cheap origin:
// whatever the origin costs is paid equally by all of them, and the "direct"
// row of the results shows that cost on its own.
//
//	upstream -addr 127.0.0.1:18900
//
// GET /small answers 100 bytes, GET /large 16 KiB, GET /conns the number of
// connections accepted so far (to check that proxies reuse theirs), anything
// else 404.
// Connections are kept alive; the server never closes them on its own.
package main
