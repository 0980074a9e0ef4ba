// Package metrics exports the event log's counters to Prometheus: the file
// log's group-commit counters, subscription (checkpoint) lag, the outbox
// relay's and the replicator's counters and lag. The library never
// registers anything itself; the embedding program (meshd) registers these
// collectors on its own registry.
package metrics
