// Package discovery is Wasmesh's service-discovery API: one Registry
// interface that registers the local instance of a service, resolves the
// healthy instances of another, and watches them change.
//
// Backends (Consul, etcd, Kubernetes, a static list, several at once) live
// in sub-packages and register themselves by name, the way grpc-go
// resolvers do, so a config can say
//
//	discovery: {backend: consul, service: api, tags: [v2]}
//
// and meshd builds the backend with [Open] without knowing its type.
// Import a backend package (for its side effect) to make its name known.
//
// Every Watch delivers complete instance sets: a consumer never sees a
// half-applied change, and a slow consumer only skips intermediate sets,
// never the latest one.
package discovery
