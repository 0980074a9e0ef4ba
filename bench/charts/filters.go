package main

import (
	"fmt"
	"regexp"
)

// filterCosts is filters.md's table, transcribed from BenchmarkFilters in
// dataplane/wasm/filtertests: "| chain | CPU ns/op | B/op | allocs/op |",
// one row per filter chain, the no-filter chain among them. The benchmark
// also reports wall ns/op; a table that carries it gets a latency chart.
type filterCosts struct {
	baseline cost   // the chain without filters
	chains   []cost // every other chain, in the table's order
}

// noFilter names the baseline row: "no filter" as transcribed, "none" as
// the benchmark's sub-test is called.
var noFilter = regexp.MustCompile(`(?i)^(no filters?|none)\b`)

// parseFilters reads the first cost table of filters.md.
func parseFilters(path string) (filterCosts, error) {
	tables, err := readTables(path)
	if err != nil {
		return filterCosts{}, err
	}
	for _, t := range tables {
		if !isCostTable(t) {
			continue
		}
		ct, err := parseCosts(t)
		if err != nil {
			return filterCosts{}, fmt.Errorf("%s: %w", path, err)
		}
		var fc filterCosts
		found := false
		for _, r := range ct.rows {
			if !found && noFilter.MatchString(r.name) {
				fc.baseline, found = r, true
				continue
			}
			fc.chains = append(fc.chains, r)
		}
		if !found {
			return filterCosts{}, fmt.Errorf("%s: the filter table has no \"no filter\" row", path)
		}
		if len(fc.chains) == 0 {
			return filterCosts{}, fmt.Errorf("%s: the filter table has only the baseline", path)
		}
		return fc, nil
	}
	return filterCosts{}, fmt.Errorf("%s: no table with an ns/op column", path)
}

// filterFigures draws one group per filter chain, the no-filter baseline
// beside it, for every cost the table has.
func filterFigures(fc filterCosts) []figure {
	metrics := []costMetric{
		{"cpu", "CPU time per request", "µs of CPU", cpuMetric.val, false},
		{"latency", "wall time per request", "µs", timeMetric.val, false},
		{"alloc-bytes", "memory allocated per request", "KB", bytesMetric.val, false},
		{"allocs", "allocations per request", "allocations", allocsMetric.val, true},
	}
	all := costTable{rows: append([]cost{fc.baseline}, fc.chains...)}
	var figs []figure
	for _, m := range metrics {
		if !m.has(all) {
			continue
		}
		f := figure{file: "filters-" + m.suffix + ".png", title: "Wasm filters, in process: " + m.title,
			unit: m.unit, baseline: true, count: m.count,
			series: []series{{name: short(fc.baseline.name)}, {name: "with the filter(s)"}}}
		for _, c := range fc.chains {
			f.groups = append(f.groups, short(c.name))
			f.series[0].values = append(f.series[0].values, m.val(fc.baseline))
			f.series[1].values = append(f.series[1].values, m.val(c))
		}
		figs = append(figs, f)
	}
	return figs
}
