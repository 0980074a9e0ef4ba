// Package watch holds the delivery machinery every backend's Watch shares:
// a latest-value channel that never blocks its producer and never hands a
// consumer a partial set.
package watch
