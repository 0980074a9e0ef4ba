package main

import (
	"fmt"
	"math"
	"strings"
)

// cost is one row of a `go test -benchmem` table ("| path | ns/op | B/op |
// allocs/op |"), as filters.md, brokers.md and grpc-client.md transcribe
// them. A column the table lacks is NaN.
type cost struct {
	name   string
	ns     float64 // wall time per op, ns ("ns/op")
	cpuNs  float64 // CPU time per op, ns ("CPU ns/op", the cpu-ns/op metric)
	bytes  float64 // B/op
	allocs float64 // allocs/op
}

// costTable is one such table with the paragraph above it. By the writers'
// convention the first row is the baseline the others are measured against.
type costTable struct {
	caption string
	rows    []cost
}

// isCostTable reports whether t has a time-per-op column.
func isCostTable(t table) bool { return t.col(isNsCol) >= 0 || t.col(isCPUNsCol) >= 0 }

func isNsCol(h string) bool    { return strings.Contains(h, "ns/op") && !strings.Contains(h, "cpu") }
func isCPUNsCol(h string) bool { return strings.Contains(h, "ns/op") && strings.Contains(h, "cpu") }

// parseCosts reads a cost table; the row name is the first column.
func parseCosts(t table) (costTable, error) {
	ns, cpu := t.col(isNsCol), t.col(isCPUNsCol)
	bytes := t.col(func(h string) bool { return h == "b/op" || strings.HasSuffix(h, " b/op") })
	allocs := t.col(func(h string) bool { return strings.Contains(h, "allocs/op") })
	if ns < 0 && cpu < 0 {
		return costTable{}, fmt.Errorf("table %q has no ns/op column", strings.Join(t.header, " | "))
	}
	ct := costTable{caption: t.caption}
	for _, r := range t.rows {
		c := cost{name: cell(r, 0), ns: num(cell(r, ns)), cpuNs: num(cell(r, cpu)),
			bytes: num(cell(r, bytes)), allocs: num(cell(r, allocs))}
		if c.name == "" || math.IsNaN(c.ns) && math.IsNaN(c.cpuNs) {
			continue
		}
		ct.rows = append(ct.rows, c)
	}
	if len(ct.rows) == 0 {
		return costTable{}, fmt.Errorf("table %q has no rows with a time per op", strings.Join(t.header, " | "))
	}
	return ct, nil
}

// costMetric is one column of a cost table as a chart draws it.
type costMetric struct {
	suffix, title, unit string
	val                 func(cost) float64
	count               bool // whole numbers: allocations
}

var (
	timeMetric   = costMetric{"time", "time per call", "µs", func(c cost) float64 { return c.ns / 1e3 }, false}
	cpuMetric    = costMetric{"cpu", "CPU time per request", "µs of CPU", func(c cost) float64 { return c.cpuNs / 1e3 }, false}
	bytesMetric  = costMetric{"bytes", "memory allocated per call", "KB", func(c cost) float64 { return c.bytes / 1e3 }, false}
	allocsMetric = costMetric{"allocs", "allocations per call", "allocations", func(c cost) float64 { return c.allocs }, true}
)

// has reports whether any row of the tables has a value for m.
func (m costMetric) has(tables ...costTable) bool {
	for _, t := range tables {
		for _, r := range t.rows {
			if !math.IsNaN(m.val(r)) {
				return true
			}
		}
	}
	return false
}

// comparisonFigure draws cost tables whose first row is a baseline: one
// group per table, labelled with its caption and "baseline vs measured",
// the baseline bar beside the measured ones.
func comparisonFigure(file, title string, m costMetric, tables []costTable) figure {
	width := 0
	for _, t := range tables {
		width = max(width, len(t.rows))
	}
	f := figure{file: file, title: title + ": " + m.title, unit: m.unit, baseline: true, count: m.count}
	for i := range width {
		name := "baseline"
		if i > 0 {
			name = "measured"
			if width > 2 {
				name = fmt.Sprintf("measured %d", i)
			}
		}
		f.series = append(f.series, series{name: name})
	}
	for _, t := range tables {
		var names []string
		for i := range width {
			v := math.NaN()
			if i < len(t.rows) {
				v = m.val(t.rows[i])
				names = append(names, short(t.rows[i].name))
			}
			f.series[i].values = append(f.series[i].values, v)
		}
		f.groups = append(f.groups, strings.TrimSpace(captionLabel(t.caption)+"\n"+strings.Join(names, " vs ")))
	}
	return f
}

// captionLabel shortens a table's caption for an axis label: notes in
// parentheses, the closing colon and "in one run" go, and it is wrapped.
func captionLabel(c string) string {
	c = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(short(c)), ":"))
	c = strings.TrimSuffix(strings.TrimSuffix(c, "in one run"), ", ")
	if r := []rune(c); len(r) > 100 {
		c = string(r[:97]) + "..."
	}
	return wrapLabels([]string{c}, 50)[0]
}
