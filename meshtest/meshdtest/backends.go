package meshdtest

// The same backends cmd/meshd links in (brokers.go, registries.go), so a
// config that works here works in meshd; plus the in-memory registry.
import (
	_ "github.com/wasmesh/wasmesh/brokers/kafka"
	_ "github.com/wasmesh/wasmesh/brokers/memory"
	_ "github.com/wasmesh/wasmesh/brokers/rabbitmq"
	_ "github.com/wasmesh/wasmesh/brokers/redis"
	_ "github.com/wasmesh/wasmesh/discovery/consul"
	_ "github.com/wasmesh/wasmesh/discovery/etcd"
	_ "github.com/wasmesh/wasmesh/discovery/kubernetes"
	_ "github.com/wasmesh/wasmesh/discovery/static"
	_ "github.com/wasmesh/wasmesh/meshtest/memregistry"
)
