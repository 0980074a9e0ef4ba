// Package subscribe is the catch-up-then-live subscription loop shared by
// every backend: read the global log after the checkpoint in batches, hand
// matching events to the handler, store the checkpoint, and when caught up
// wait for the backend to signal new events.
//
// Reading the log (not a push channel) is the single source of truth, so a
// subscriber that was slow, disconnected or restarted cannot miss an event:
// it simply reads from its checkpoint again.
package subscribe
