// Package kafka is the Kafka adapter of brokers (github.com/IBM/sarama).
//
// Publish uses an idempotent producer with acks=all and returns once every
// message is acknowledged by all in-sync replicas; Message.Key chooses the
// partition (FNV-1a hash) unless Message.SetPartition names one. Subscribe
// joins a consumer group (rebalances handled by sarama's group protocol),
// and marks an offset for commit only when it and every offset before it in
// its partition were settled, so a crash redelivers what was not handled
// (at-least-once). Kafka cannot take a message back, so:
//
//   - Nack(requeue) republishes the message to the retry topic
//     "<topic>.retry" (consumed by the same subscription after RetryDelay,
//     Delivery.Attempt incremented) and commits the original;
//   - Nack(no requeue) republishes it to the dead-letter topic "<topic>.dlq".
//
// Import it for its side effect to register the "kafka" broker type.
package kafka
