// Package eventlog is Wasmesh's event store: streams of immutable events with
// optimistic concurrency, idempotent appends, a global order, snapshots and
// catch-up-then-live subscriptions whose checkpoints live in the store.
//
// The package defines the model ([Event], [ExpectedVersion], [Filter]) and the
// [Store] contract. Backends live in sub-packages: filelog (embedded,
// the default) and postgres (shared by many nodes). Every backend passes the
// conformance suite in eventlog/storetest, so code written against [Store]
// behaves the same on both.
//
// Higher layers are built only on [Store]: [Loader] (aggregates from
// snapshots plus later events), cqrs (command and query buses, projections),
// saga (process managers with compensation), outbox (publishing after
// storing) and replication (applying one store's events to another).
// instrument wraps any [Store] with OpenTelemetry spans and the append
// latency metric, so every backend is observed the same way.
package eventlog
