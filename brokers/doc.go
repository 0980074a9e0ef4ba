// Package brokers is Wasmesh's one messaging API: a Publisher and a
// Subscriber shared by every message broker (RabbitMQ, Kafka, Redis and an
// in-memory one), a Message that carries CloudEvents attributes and W3C trace
// context, explicit Ack and Nack on the consumer side, typed errors, a small
// registry that builds adapters by name from config, and Prometheus metrics
// named after OpenTelemetry's messaging conventions (Metrics; every adapter
// writes them through a Recorder, and Serve times the handlers).
//
// Adapters live in sub-packages (brokers/memory, brokers/redis,
// brokers/rabbitmq, brokers/kafka) and register themselves by type name when
// imported. Consumer middleware (retry, dead-letter, de-duplication,
// throttling, timeouts, panic recovery, correlation ids, trace spans on
// both sides) lives in brokers/middleware and composes around a Handler the same way for every
// adapter. brokers/brokertest is the conformance suite every adapter passes.
//
// Delivery is at-least-once wherever the broker allows it: a handler must be
// idempotent or use the de-duplication middleware. The exception (Redis
// Pub/Sub, at-most-once) says so in its README and in its Features.
package brokers
