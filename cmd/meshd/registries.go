package main

// The service-registry backends clusters can take endpoints from, and the
// app can register in, by backend name.
import (
	_ "github.com/wasmesh/wasmesh/discovery/consul"
	_ "github.com/wasmesh/wasmesh/discovery/etcd"
	_ "github.com/wasmesh/wasmesh/discovery/kubernetes"
	_ "github.com/wasmesh/wasmesh/discovery/static"
)
