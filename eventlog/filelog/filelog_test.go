package filelog_test

import (
	"testing"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/storetest"
)

func TestConformance(t *testing.T) {
	for _, d := range []filelog.Durability{filelog.SyncGroup, filelog.SyncEveryAppend, filelog.SyncInterval} {
		t.Run(d.String(), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Opener {
				dir := t.TempDir()
				return func(t *testing.T) eventlog.Store {
					// Small segments so the suite crosses segment rolls.
					l, err := filelog.Open(dir, filelog.Options{Durability: d, SegmentBytes: 4 << 10})
					if err != nil {
						t.Fatalf("open: %v", err)
					}
					return l
				}
			})
		})
	}
}
