// Package memory is an in-process broker for users' unit tests and for
// meshd configs that need no server. It behaves like the real adapters:
// topics are logs that new consumer groups read from the start (or the end),
// groups compete for messages, deliveries must be acked, a nack with requeue
// redelivers at the head of the queue, and a subscription that goes away
// returns its unacked deliveries to the group. Fault hooks (FailPublishes,
// DelayDeliveries, SetDown) let tests exercise error paths.
//
// Import it for its side effect to register the "memory" broker type.
package memory
