// Package multi reads several discovery backends as one (registered as
// "multi"): a cluster migrating from Consul to Kubernetes sees the
// instances of both, merged and de-duplicated by address.
//
// Each backend's failure is isolated: while one backend is unreachable its
// last known instances are kept for a configurable time (KeepStaleFor),
// then dropped, and the others keep flowing. The failure shows in Health,
// in Status, in the Err of watch updates, and in the Prometheus metrics of
// a Metrics collector.
package multi
