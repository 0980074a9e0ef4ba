// Package replication applies one store's events to another (a replica in
// another region, say), in order per stream, keeping event ids, times and
// metadata, so the replica's events are the same events.
//
// When the replica's stream was also written locally since the last
// replicated event, the two sides conflict; a Strategy decides:
// RejectAndReport (keep the replica as it is, report the conflict),
// LastWriterWins (the side with the newer event wins) or a user-supplied
// Merge. Replicator.Apply takes one event (from a broker consumer, for
// instance, via outbox.FromMessage); Replicator.Run follows a source store
// directly. The replica stores its own progress, and Lag reports how far
// behind it is.
package replication
