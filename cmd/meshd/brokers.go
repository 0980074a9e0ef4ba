package main

// The broker adapters meshd's messaging gateway can open by type name.
import (
	_ "github.com/wasmesh/wasmesh/brokers/kafka"
	_ "github.com/wasmesh/wasmesh/brokers/memory"
	_ "github.com/wasmesh/wasmesh/brokers/rabbitmq"
	_ "github.com/wasmesh/wasmesh/brokers/redis"
)
