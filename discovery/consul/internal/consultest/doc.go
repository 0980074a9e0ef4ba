// Package consultest is an in-process Consul HTTP API server for tests: it
// implements exactly the endpoints the consul backend uses, with Consul's
// semantics where they matter (blocking queries on X-Consul-Index with
// ?index= and ?wait=, TTL and HTTP checks, maintenance mode,
// DeregisterCriticalServiceAfter, ACL tokens, datacenters), because no
// Consul binary can be installed where the tests run. Fault switches let a
// test make the index go backwards, make queries return at once without
// change, or make the server fail.
package consultest
