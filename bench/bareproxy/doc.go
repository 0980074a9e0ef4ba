// Command bareproxy is the floor under meshd in the HTTP benchmark: a
// reverse proxy that is nothing but a fasthttp.Server handing every request
// to one fasthttp.HostClient. No routing, no load balancing, no breakers,
// no metrics. meshd is built on the same two types, so the gap between this
// row and meshd's in bench/results/http.md is what meshd's own features
// cost, and the gap between this row and nginx's is what fasthttp costs.
//
//	bareproxy -addr 127.0.0.1:18906 -upstream 127.0.0.1:18900
package main
