// Package redis is the Redis adapter of brokers (github.com/redis/go-redis/v9).
// One broker runs in one of two modes:
//
//   - "streams" (default): at-least-once. A topic is a stream; Publish is
//     XADD (confirmed by the reply), Subscribe reads with XREADGROUP in a
//     consumer group, Ack is XACK, Nack(requeue) re-claims the entry with
//     XCLAIM so it is delivered again, and entries left pending by a consumer
//     that died are taken over with XAUTOCLAIM once idle for ClaimIdle.
//   - "pubsub": at-most-once. A topic is a channel, or a pattern when it
//     contains *, ? or [ (PSUBSCRIBE). A message published while nobody
//     listens, or while a subscriber is reconnecting, is lost; Ack and Nack
//     do nothing.
//
// Import it for its side effect to register the "redis" broker type.
package redis
