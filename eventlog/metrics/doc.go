// Package metrics exports the event log's metrics to Prometheus: append
// latency by outcome (any backend, recorded by eventlog/instrument), the
// file log's group-commit counters, subscription (checkpoint) lag, the
// outbox relay's and the replicator's counters and lag. Every name is
// <namespace>_eventlog_<name>, the namespace chosen by the embedding
// program ("wasmesh" by default, "meshd" inside meshd), so one process
// writes one prefix. The library never registers anything itself; the
// embedding program registers these collectors on its own registry.
package metrics
