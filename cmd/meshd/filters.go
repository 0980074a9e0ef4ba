package main

import (
	"log/slog"

	"github.com/wasmesh/wasmesh/dataplane"
)

// filterFactory returns the Wasm filter host for meshd's filter chains,
// or nil while this build has none.
func filterFactory(_ *slog.Logger) dataplane.FilterFactory { return nil }
