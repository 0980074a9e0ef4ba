package memstore_test

import (
	"testing"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/memstore"
	"github.com/wasmesh/wasmesh/eventlog/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		d := memstore.NewData()
		return func(t *testing.T) eventlog.Store { return memstore.Open(d) }
	})
}
