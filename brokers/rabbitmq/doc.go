// Package rabbitmq is the RabbitMQ adapter of brokers
// (github.com/rabbitmq/amqp091-go).
//
// The topology (exchanges, classic and quorum queues, bindings, dead-letter
// exchanges, TTLs, length limits) is declared from config when the broker
// opens and again after every reconnect. Publish targets an exchange (the
// routing key is Message.Key) or, for a topic that names a declared queue
// only, that queue through the default exchange; it returns once every
// message is confirmed (publisher confirms) and fails with ErrUnroutable
// for a message the broker returned (mandatory flag). Subscribe consumes a
// queue with a prefetch limit and manual acks. A lost connection is redialed
// with exponential backoff and full jitter; the topology is re-declared,
// consumers resume, and publishes in flight are re-sent on the new
// connection (at-least-once).
//
// Import it for its side effect to register the "rabbitmq" broker type.
package rabbitmq
