package meshtest_test

import (
	"testing"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/brokertest"
	"github.com/wasmesh/wasmesh/brokers/memory"
)

// TestMemoryBrokerConformance proves, where users look for the kit, that
// the broker double passes the suite the real adapters pass.
func TestMemoryBrokerConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(*testing.T) brokers.Broker { return memory.New(memory.Options{}) },
		Topic: func(*testing.T, brokers.Broker) brokertest.Topic {
			n := memory.NewTopicName("meshtest")
			return brokertest.Topic{Pub: n, Sub: n}
		},
	})
}
