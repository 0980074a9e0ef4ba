// Package kafkatest starts an in-process Kafka wire-protocol server
// (franz-go's kfake) for a test: real Kafka clients (franz-go, sarama,
// Wasmesh's brokers/kafka) connect to its loopback bootstrap addresses,
// produce, fetch and join consumer groups. Topics can be seeded with a
// partition count or created later; the cluster stops at t.Cleanup.
//
// kfake is not Apache Kafka: it keeps data in memory, and transactions,
// quotas and some admin APIs are partial. Use it for client behaviour, not
// broker behaviour.
package kafkatest
