package main

import "fmt"

// parseGRPC reads every cost table of grpc-client.md, transcribed from
// BenchmarkGRPCUnary and BenchmarkMeshHop in dataplane/: "| path | ns/op |
// B/op | allocs/op |", the baseline path (direct, plaintext) first.
func parseGRPC(path string) ([]costTable, error) {
	tables, err := readTables(path)
	if err != nil {
		return nil, err
	}
	var out []costTable
	for _, t := range tables {
		if !isCostTable(t) {
			continue
		}
		ct, err := parseCosts(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, ct)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no table with an ns/op column", path)
	}
	return out, nil
}

// grpcFigures draws time, bytes and allocations per call, one group per
// table, each baseline beside what is measured against it.
func grpcFigures(tables []costTable) []figure {
	var figs []figure
	for _, m := range []costMetric{timeMetric, bytesMetric, allocsMetric} {
		if m.has(tables...) {
			figs = append(figs, comparisonFigure("grpc-client-"+m.suffix+".png", "gRPC through meshd", m, tables))
		}
	}
	return figs
}
