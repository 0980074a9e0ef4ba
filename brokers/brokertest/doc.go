// Package brokertest is the conformance suite every brokers adapter passes,
// the in-memory one included (after Watermill's pubsub/tests). An adapter's
// test calls Run with a Harness that opens a broker and makes isolated
// topics; the suite reads the broker's Features and skips what the adapter
// does not promise.
//
// It is exported so that users with their own adapter can run it too.
package brokertest
