// Package dataplane is meshd's proxy: listeners, routing, clusters, load
// balancing, health, breakers, retries, timeouts and the admin API.
//
// A Server holds the config in force as an immutable snapshot. Apply builds
// a new snapshot beside the old one (routes compiled, clusters resolved,
// listeners bound) and swaps it in; a request reads its listener's snapshot
// once, at its start, and keeps it to the end, so a reload never fails a
// request in flight. Runtime state that must outlive a reload (endpoint
// health, ejections, pools, breaker counters) is kept by cluster name.
package dataplane
