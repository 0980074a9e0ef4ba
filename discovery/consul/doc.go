// Package consul is the Consul discovery backend (registered as "consul"),
// built on github.com/hashicorp/consul/api.
//
// Register puts the instance in the local agent with one check: an HTTP
// check the agent runs when Instance.Check.HTTP is set, otherwise a TTL
// check this registry keeps passing (or failing, after SetStatus) from a
// heartbeat. DeregisterCriticalServiceAfter is always set, so a crashed
// instance leaves on its own; Close deregisters what it registered.
//
// Watch runs blocking queries on /v1/health/service/:name?passing: the index
// is reset when it goes backwards, the loop is rate-limited, and a return
// without change sends nothing. See README.md for the endpoints used.
package consul
