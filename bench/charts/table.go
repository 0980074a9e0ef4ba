package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// table is one markdown table of a results file. The tables of http.md are
// written by bench/run.sh; the others are transcribed by hand from `go test
// -bench` output, so cells carry thousands separators, bold markers and
// notes in parentheses, and the parsers find columns by their header text
// rather than by position.
type table struct {
	// caption is the last paragraph above the table ("Unary gRPC ..., in
	// one run:"), joined into one line, code blocks in between skipped;
	// empty when a heading comes first.
	caption string
	header  []string // cleaned header cells, as written
	rows    [][]string
}

// readTables returns every markdown table of the file at path, in order,
// leaving out anything inside ``` code fences.
func readTables(path string) ([]table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read tables: %w", err)
	}
	defer f.Close()
	var (
		tables    []table
		cur       *table
		block     [][]string // the table lines seen so far, before the separator is checked
		paragraph []string
		fence     bool
		ended     bool // a blank line followed the paragraph
	)
	flush := func() {
		if cur != nil && len(cur.rows) > 0 {
			tables = append(tables, *cur)
		}
		cur, block = nil, nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") {
			flush()
			// A code block (the command that measured the table) does not
			// end the paragraph above it: that is still the caption.
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			flush()
			switch {
			case strings.HasPrefix(line, "#"):
				paragraph, ended = nil, false
			case line == "":
				ended = true // the paragraph stays the caption of a table below it
			default:
				if ended {
					paragraph, ended = nil, false
				}
				paragraph = append(paragraph, line)
			}
			continue
		}
		cells := splitRow(line)
		switch {
		case cur != nil:
			cur.rows = append(cur.rows, cells)
		case len(block) == 0:
			block = append(block, cells)
		case isSeparator(cells):
			cur = &table{caption: strings.Join(paragraph, " "), header: block[0]}
			paragraph, ended = nil, false
		default:
			block = nil // not a table: two rows with no separator between
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tables from %s: %w", path, err)
	}
	return tables, nil
}

// splitRow splits "| a | b \| c |" into its cleaned cells; "\|" is a pipe
// inside a cell.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			b.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, clean(b.String()))
			b.Reset()
		default:
			b.WriteByte(line[i])
		}
	}
	return append(cells, clean(b.String()))
}

// clean drops the spaces, emphasis and code marks around a cell.
func clean(s string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "*_`"))
}

func isSeparator(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, ":-") != "" || !strings.Contains(c, "-") {
			return false
		}
	}
	return true
}

// col returns the index of the first column whose lower-cased header
// satisfies match, or -1.
func (t table) col(match func(h string) bool) int {
	for i, h := range t.header {
		if match(strings.ToLower(h)) {
			return i
		}
	}
	return -1
}

// cell returns row[i], or "" when the row is short or i is -1.
func cell(row []string, i int) string {
	if i < 0 || i >= len(row) {
		return ""
	}
	return row[i]
}

var (
	numberRE = regexp.MustCompile(`^[-+]?[0-9][0-9,]*(\.[0-9]+)?`)
	rangeRE  = regexp.MustCompile(`\(\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*[–—-]\s*([0-9][0-9,]*(?:\.[0-9]+)?)`)
	// digitGroup are the thousands separators seen in hand-written tables.
	digitGroup = strings.NewReplacer(",", "", "\u202f", "", "\u00a0", "", "\u2009", "", "_", "")
)

// num reads the number a cell starts with: "27,365 (29.6 appends per
// fsync)" is 27365, "**1.12**" is 1.12, "~0.9" is 0.9. A cell with no
// number ("—", "n/a", "") is NaN, which the charts leave out.
func num(s string) float64 {
	s = strings.TrimLeft(clean(s), "~≈ ")
	m := numberRE.FindString(digitGroup.Replace(s))
	if m == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(m, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// numRange reads "1.10 (0.96–1.15)" as 1.10, 0.96 and 1.15; low and high
// are NaN when the cell gives no range.
func numRange(s string) (v, low, high float64) {
	v, low, high = num(s), math.NaN(), math.NaN()
	if m := rangeRE.FindStringSubmatch(s); m != nil {
		low, high = num(m[1]), num(m[2])
	}
	return v, low, high
}

// parenthetical matches " (note)" parts of a name.
var parenthetical = regexp.MustCompile(`\s*\([^)]*\)`)

// short drops the notes in parentheses from a row name, for axis labels and
// legends: "jwt-auth (repeated valid token, cache hit)" is "jwt-auth". The
// full names stay in the results text beside the chart.
func short(s string) string {
	if t := strings.TrimSpace(parenthetical.ReplaceAllString(s, "")); t != "" {
		return t
	}
	return s
}
