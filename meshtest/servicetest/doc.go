// Package servicetest gives a test its own isolated corner of the real
// RabbitMQ, Redis and PostgreSQL servers on the machine, so tests of many
// packages can share those servers and run in parallel:
//
//   - RabbitMQ: a fresh virtual host (rabbitmqctl add_vhost and
//     set_permissions), deleted at t.Cleanup; an amqp:// URL into it.
//   - Redis: a unique key prefix; every key under it is deleted at
//     t.Cleanup; a client and the prefix.
//   - PostgreSQL: a fresh schema, dropped with everything in it at
//     t.Cleanup; a DSN whose search_path is that schema.
//
// Addresses come from the environment (RABBITMQ_URL, RABBITMQCTL,
// REDIS_ADDR, POSTGRES_DSN) with the usual local defaults. When a server
// cannot be reached and the test binary imports meshtest/containers, the
// helper starts a container for the call (if a Docker engine answers),
// sets up the same vhost, prefix or schema on it, and removes it at
// cleanup. Otherwise it skips the test, or fails it with what to install
// and start when CI=true.
package servicetest
