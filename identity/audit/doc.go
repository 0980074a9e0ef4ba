// Package audit turns every request meshd denies — failed authentication,
// an authorization policy, a rate limit — into a structured event: who
// asked, for what, which policy, rule or filter refused it and why, when,
// and the trace and request ids to find it again.
//
// Each event is written to the log at once and, when a broker is
// configured, queued for publishing to a topic through brokers.Publisher.
// The queue is bounded and Record never waits: when the broker is slow or
// down, events beyond the queue are dropped and counted, so auditing never
// slows or fails the request path. Counters per kind and reason are
// prometheus collectors for meshd's /metrics.
package audit
