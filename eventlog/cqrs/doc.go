// Package cqrs separates writes from reads on top of an eventlog.Store.
//
// Writes: a CommandBus routes each command, by its Go type, to exactly one
// handler, after validating it (commands may implement Validator); a handler
// may reject a command (Reject). Aggregates are written as two pure
// functions, Decide(command, state) → events and Evolve(state, event) →
// state; Aggregate loads the state (from a snapshot plus later events),
// decides, appends with the loaded version as the expected version, and
// retries on a concurrency conflict.
//
// Reads: a Projector feeds a read model from a subscription with a stored
// checkpoint, can rebuild it from zero, and lets a query wait until the read
// model has caught up with a given position (read your writes). A QueryBus
// routes queries, by type, to handlers that read only read models.
package cqrs
