// Package memregistry is an in-memory discovery.Registry for tests: a
// Backend plays the registry server, and every Registry opened on it is a
// client that sees the others' registrations, as processes sharing one
// Consul or etcd would. It passes the same conformance suite as the real
// backends (discovery/registrytest), so code tested against it behaves the
// same against them.
//
// Fault hooks let a test exercise the unhappy paths: FailNext fails the
// next N calls, SetDown makes the backend unreachable (watches receive an
// Update with Err, then a fresh set on recovery), DropWatches closes open
// watch channels as a lost stream would, DelayUpdates makes watches trail
// changes, and Registry.Crash stops a client without deregistering, so its
// instances expire after their Check.TTL.
//
// Importing the package also registers the discovery backend "memory", so
// a meshd config (see meshtest/meshdtest) can read endpoints from a
// Backend by its Name:
//
//	registries: [{name: reg, backend: memory, options: {name: <Backend.Name()>}}]
package memregistry
