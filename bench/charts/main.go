// Command charts draws bench/results/http.md's table as PNG bar charts
// beside RESULTS.md: requests per second, p99 latency, and requests per
// proxy CPU-second (the steadiest figure on a shared machine), per target
// and body size.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// row is one line of the HTTP results table.
type row struct {
	target, body string
	rps, p99     float64
	perCPU       float64
}

func main() {
	in := flag.String("in", "bench/results/http.md", "results table")
	out := flag.String("out", "bench", "folder for the PNG files")
	flag.Parse()
	rows, err := parse(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		os.Exit(1)
	}
	for _, c := range []struct {
		file, title, unit string
		val               func(row) float64
	}{
		{"http-throughput.png", "Keep-alive GETs: requests/s", "req/s", func(r row) float64 { return r.rps }},
		{"http-p99.png", "Keep-alive GETs: p99 latency", "ms", func(r row) float64 { return r.p99 }},
		{"http-cpu-efficiency.png", "Requests per proxy CPU-second", "req per CPU-s", func(r row) float64 { return r.perCPU }},
	} {
		if err := draw(rows, c.title, c.unit, c.val, filepath.Join(*out, c.file)); err != nil {
			fmt.Fprintln(os.Stderr, "charts:", err)
			os.Exit(1)
		}
		fmt.Println("charts: wrote", filepath.Join(*out, c.file))
	}
}

func num(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.Trim(s, "* ")), 64)
	if err != nil {
		return 0
	}
	return v
}

// parse reads the markdown table whose header starts with "| target |".
func parse(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []row
	var cols map[string]int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			cols = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[0] == "target" {
			cols = map[string]int{}
			for i, c := range cells {
				cols[c] = i
			}
			continue
		}
		if cols == nil || strings.HasPrefix(cells[0], "---") {
			continue
		}
		get := func(name string) string {
			if i, ok := cols[name]; ok && i < len(cells) {
				return cells[i]
			}
			return ""
		}
		rows = append(rows, row{target: strings.Trim(get("target"), "*"), body: get("body"),
			rps: num(get("req/s")), p99: num(get("p99")), perCPU: num(get("req per proxy CPU-s"))})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no results table", path)
	}
	return rows, sc.Err()
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
}

// draw makes grouped bars: one group per target, one bar per body size.
func draw(rows []row, title, unit string, val func(row) float64, file string) error {
	var targets, bodies []string
	seenT, seenB := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		if !seenT[r.target] {
			seenT[r.target] = true
			targets = append(targets, r.target)
		}
		if !seenB[r.body] {
			seenB[r.body] = true
			bodies = append(bodies, r.body)
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	w := vg.Points(14)
	for bi, b := range bodies {
		vals := make(plotter.Values, len(targets))
		for ti, tgt := range targets {
			for _, r := range rows {
				if r.target == tgt && r.body == b {
					vals[ti] = val(r)
				}
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color = palette[bi%len(palette)]
		bars.Offset = vg.Length(float64(bi)-float64(len(bodies)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(b, bars)
	}
	p.Legend.Top = true
	p.NominalX(targets...)
	return p.Save(9*vg.Inch, 4*vg.Inch, file)
}
