// Package meshtest is the index of Wasmesh's test kit, for users of the SDK
// as much as for Wasmesh's own tests. Each helper lives in a sub-package
// and is cleaned up by t.Cleanup:
//
//   - brokers/memory: the in-memory broker double, with fault hooks
//     (FailPublishes, DelayDeliveries, SetDown); it passes
//     brokers/brokertest, as this package's test shows.
//   - meshtest/memregistry: the in-memory service-registry double, with
//     fault hooks; it passes discovery/registrytest.
//   - meshtest/etcdtest: a real etcd server.
//   - meshtest/kafkatest: a Kafka wire-protocol server (kfake).
//   - meshtest/xdstest: an xDS management server with a snapshot cache.
//   - meshtest/meshdtest: a meshd in-process from a YAML string.
//   - meshtest/servicetest: isolated use of the machine's RabbitMQ (a
//     vhost), Redis (a key prefix) and PostgreSQL (a schema).
//   - meshtest/containers: imported for its side effect, lets etcdtest and
//     servicetest start a container (testcontainers-go) when the machine
//     lacks the server.
//
// Helpers that need a server the machine lacks start it in a container
// when the test imports meshtest/containers and a Docker engine answers;
// otherwise they skip the test, or fail it with what to install when
// CI=true.
package meshtest
