package main

import (
	"fmt"
	"math"
)

// httpRow is one line of http.md's table, written by write_http_md in
// bench/run.sh: "| target | body | req/s | p50 | p99 | ... | req per proxy
// CPU-s | ...". Latencies are in ms; the direct row has "—" for the proxy's
// CPU-second, read as NaN.
type httpRow struct {
	target, body string
	rps, p99     float64
	perCPU       float64
}

// parseHTTP reads the results table of http.md: the one whose first header
// is "target".
func parseHTTP(path string) ([]httpRow, error) {
	tables, err := readTables(path)
	if err != nil {
		return nil, err
	}
	var rows []httpRow
	for _, t := range tables {
		if t.col(func(h string) bool { return h == "target" }) != 0 {
			continue
		}
		exact := func(name string) int { return t.col(func(h string) bool { return h == name }) }
		target, body, rps, p99, perCPU := 0, exact("body"), exact("req/s"), exact("p99"), exact("req per proxy cpu-s")
		if rps < 0 || p99 < 0 {
			return nil, fmt.Errorf("%s: the target table has no req/s or p99 column", path)
		}
		for _, r := range t.rows {
			rows = append(rows, httpRow{target: cell(r, target), body: cell(r, body),
				rps: num(cell(r, rps)), p99: num(cell(r, p99)), perCPU: num(cell(r, perCPU))})
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no table with a target column", path)
	}
	return rows, nil
}

// httpFigures draws one group per target and one bar per body size.
func httpFigures(rows []httpRow) []figure {
	var targets, bodies []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen["t"+r.target] {
			seen["t"+r.target] = true
			targets = append(targets, r.target)
		}
		if !seen["b"+r.body] {
			seen["b"+r.body] = true
			bodies = append(bodies, r.body)
		}
	}
	figs := []figure{
		{file: "http-throughput.png", title: "Keep-alive GETs: requests per second (median run)", unit: "req/s"},
		{file: "http-p99.png", title: "Keep-alive GETs: p99 latency (median run)", unit: "ms"},
		{file: "http-cpu-efficiency.png", title: "Requests per second of the proxy's own CPU time", unit: "req per CPU-s"},
	}
	vals := []func(httpRow) float64{
		func(r httpRow) float64 { return r.rps },
		func(r httpRow) float64 { return r.p99 },
		func(r httpRow) float64 { return r.perCPU },
	}
	for fi := range figs {
		figs[fi].groups = targets
		for _, b := range bodies {
			s := series{name: b + " body"}
			for _, t := range targets {
				v := math.NaN()
				for _, r := range rows {
					if r.target == t && r.body == b {
						v = vals[fi](r)
					}
				}
				s.values = append(s.values, v)
			}
			figs[fi].series = append(figs[fi].series, s)
		}
	}
	return figs
}
