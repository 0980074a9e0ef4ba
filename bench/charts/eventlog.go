package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// eventlogStore is one row of eventlog.md's table, transcribed from
// BenchmarkAppend and BenchmarkRead in eventlog/bench: "| store |
// appends/s, 1 writer | appends/s, 64 writers | reads/s |", one column per
// writer count the benchmark ran. Cells may carry a note: "27,365 (29.6
// appends per fsync)".
type eventlogStore struct {
	name    string
	appends map[int]float64 // appends/s by writer count
	reads   float64         // reads/s, NaN when not measured
}

// eventlogResults is eventlog.md's table: the stores and the writer counts
// its columns name, in ascending order.
type eventlogResults struct {
	writers []int
	stores  []eventlogStore
}

var writersCol = regexp.MustCompile(`appends/s,\s*(\d+)\s*writers?`)

// parseEventlog reads the first table of eventlog.md with an
// "appends/s, N writers" column.
func parseEventlog(path string) (eventlogResults, error) {
	tables, err := readTables(path)
	if err != nil {
		return eventlogResults{}, err
	}
	for _, t := range tables {
		cols := map[int]int{} // writers -> column
		var res eventlogResults
		for i, h := range t.header {
			if m := writersCol.FindStringSubmatch(strings.ToLower(h)); m != nil {
				n, err := strconv.Atoi(m[1])
				if err != nil {
					return eventlogResults{}, fmt.Errorf("%s: column %q: %w", path, h, err)
				}
				cols[n] = i
				res.writers = append(res.writers, n)
			}
		}
		if len(cols) == 0 {
			continue
		}
		slices.Sort(res.writers)
		reads := t.col(func(h string) bool { return h == "reads/s" })
		for _, r := range t.rows {
			s := eventlogStore{name: cell(r, 0), appends: map[int]float64{}, reads: num(cell(r, reads))}
			for n, c := range cols {
				s.appends[n] = num(cell(r, c))
			}
			res.stores = append(res.stores, s)
		}
		if len(res.stores) == 0 {
			continue
		}
		return res, nil
	}
	return eventlogResults{}, fmt.Errorf("%s: no table with an \"appends/s, N writers\" column", path)
}

// eventlogFigures draws appends/s grouped by writer count, and reads/s,
// one bar per store, in the table's order (the file log first).
func eventlogFigures(res eventlogResults) []figure {
	appends := figure{file: "eventlog-appends.png", unit: "appends/s",
		title: "Event log: acknowledged appends per second by concurrent writers"}
	reads := figure{file: "eventlog-reads.png", unit: "events/s",
		title: "Event log: events read per second, in order, 100 per call", groups: []string{"1 reader"}}
	for _, n := range res.writers {
		label := strconv.Itoa(n) + " writers"
		if n == 1 {
			label = "1 writer"
		}
		appends.groups = append(appends.groups, label)
	}
	anyReads := false
	for _, s := range res.stores {
		a := series{name: short(s.name)}
		for _, n := range res.writers {
			a.values = append(a.values, s.appends[n])
		}
		appends.series = append(appends.series, a)
		reads.series = append(reads.series, series{name: short(s.name), values: []float64{s.reads}})
		anyReads = anyReads || !math.IsNaN(s.reads)
	}
	if !anyReads {
		return []figure{appends}
	}
	return []figure{appends, reads}
}
