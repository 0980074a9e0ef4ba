package memory_test

import (
	"testing"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/brokertest"
	"github.com/wasmesh/wasmesh/brokers/memory"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(*testing.T) brokers.Broker { return memory.New(memory.Options{}) },
		Topic: func(*testing.T, brokers.Broker) brokertest.Topic {
			n := memory.NewTopicName("t")
			return brokertest.Topic{Pub: n, Sub: n}
		},
	})
}
