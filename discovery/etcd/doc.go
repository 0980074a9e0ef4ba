// Package etcd is the etcd v3 discovery backend (registered as "etcd").
//
// An instance is the key <prefix>/<service>/<id> bound to a lease the
// registry keeps alive: if the process dies, the lease expires and the key
// goes away. The value is the JSON that etcd's own naming/endpoints package
// writes ({"Op":0,"Addr":"host:port","Metadata":{...}}), so gRPC's etcd
// resolver (target "etcd:///<prefix>/<service>") reads the same entries,
// and entries written by that package are read here too.
//
// Watch lists the service's keys once, then watches the prefix from the
// next revision; after a reconnect it resumes from the last revision seen,
// and after a compaction it lists again, so no change is missed.
package etcd
