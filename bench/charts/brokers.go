package main

import (
	"fmt"
	"math"
	"strings"
)

// brokerRatio is one row of brokers.md's first table, transcribed from the
// Interleaved benchmarks of brokers/redis and brokers/rabbitmq (their
// adapter/raw metric: the adapter's time per message over the raw
// client's, 1.05 = 5 % slower): "| benchmark | adapter ÷ raw, median
// (range) of 3 runs |" with cells like "1.10 (0.96–1.15)".
type brokerRatio struct {
	benchmark         string
	median, low, high float64
}

// brokerResults is what brokers.md charts: the adapter/raw ratios and the
// publish through the meshd gateway (BenchmarkGatewayPublish in dataplane/:
// "| path | ns/op | B/op | allocs/op |", direct publish first). Either may
// be missing, not both.
type brokerResults struct {
	ratios  []brokerRatio
	gateway []costTable
}

func isRatioCol(h string) bool {
	return strings.Contains(h, "adapter") && strings.Contains(h, "raw")
}

// parseBrokers reads every ratio table and every cost table of brokers.md.
func parseBrokers(path string) (brokerResults, error) {
	tables, err := readTables(path)
	if err != nil {
		return brokerResults{}, err
	}
	var br brokerResults
	for _, t := range tables {
		switch c := t.col(isRatioCol); {
		case c > 0:
			for _, r := range t.rows {
				m, lo, hi := numRange(cell(r, c))
				if math.IsNaN(m) {
					continue
				}
				br.ratios = append(br.ratios, brokerRatio{benchmark: cell(r, 0), median: m, low: lo, high: hi})
			}
		case isCostTable(t):
			ct, err := parseCosts(t)
			if err != nil {
				return brokerResults{}, fmt.Errorf("%s: %w", path, err)
			}
			br.gateway = append(br.gateway, ct)
		}
	}
	if len(br.ratios) == 0 && len(br.gateway) == 0 {
		return brokerResults{}, fmt.Errorf("%s: no adapter ÷ raw table and no ns/op table", path)
	}
	return br, nil
}

// brokerFigures draws the ratios (the raw client at 1 beside each adapter,
// whiskers for the range of the runs) and the gateway's time per publish.
func brokerFigures(br brokerResults) []figure {
	var figs []figure
	if len(br.ratios) > 0 {
		f := figure{file: "brokers-adapter-vs-raw.png", baseline: true,
			title:  "Broker adapters: time per message relative to the raw client (median of the runs, whiskers: range)",
			unit:   "× the raw client's time (1 = same)",
			series: []series{{name: "raw client"}, {name: "our adapter"}}}
		for _, r := range br.ratios {
			f.groups = append(f.groups, r.benchmark)
			f.series[0].values = append(f.series[0].values, 1)
			f.series[1].values = append(f.series[1].values, r.median)
			f.series[1].low = append(f.series[1].low, r.low)
			f.series[1].high = append(f.series[1].high, r.high)
		}
		f.groups = wrapLabels(f.groups, 28)
		figs = append(figs, f)
	}
	if len(br.gateway) > 0 {
		m := timeMetric
		m.title = "time per publish"
		figs = append(figs, comparisonFigure("brokers-gateway.png", "Publishing through the meshd gateway", m, br.gateway))
	}
	return figs
}

// wrapLabels breaks each label into lines of at most n characters at
// spaces, so long benchmark names fit under their group.
func wrapLabels(labels []string, n int) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		var lines []string
		line := ""
		for _, w := range strings.Fields(l) {
			if line != "" && len([]rune(line))+1+len([]rune(w)) > n {
				lines = append(lines, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		out[i] = strings.Join(append(lines, line), "\n")
	}
	return out
}
