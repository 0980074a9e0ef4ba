// Package lb holds the load-balancing policies of meshd and of the client
// SDK (one implementation for both). Each policy registers
// itself by name (as grpc-go's balancers do) and the cluster config names
// it. round_robin, least_request and random read host availability on
// every pick, so a health change or an ejection takes effect at once.
// ring_hash and maglev keep a table over the available hosts that their
// owner rebuilds with Refresh when availability changes (below
// the panic threshold (DefaultPanicThreshold) the table spans every host, as in Envoy); until then, and
// for owners that never refresh, a pick steps over unavailable hosts.
package lb
