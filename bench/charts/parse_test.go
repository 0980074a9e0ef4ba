package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The testdata files are copies of bench/results as committed with these
// parsers, so that rerunning a benchmark does not change what the tests
// expect; TestCurrentResultsParse checks the live files still parse.

func TestParseHTTP(t *testing.T) {
	rows, err := parseHTTP("testdata/http.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 12 {
		t.Fatalf("got %d rows, want 12 (6 targets × 2 bodies)", len(rows))
	}
	meshd := rows[1]
	if meshd.target != "meshd" || meshd.body != "0.1 KB" || meshd.rps != 12412 || meshd.p99 != 74.85 || meshd.perCPU != 20328 {
		t.Errorf("meshd 0.1 KB row = %+v", meshd)
	}
	if d := rows[6]; d.target != "direct (no proxy)" || d.body != "16 KB" || d.rps != 21865 || !math.IsNaN(d.perCPU) {
		t.Errorf("direct 16 KB row = %+v, want 21865 req/s and no CPU-s figure", d)
	}
}

func TestParseFilters(t *testing.T) {
	fc, err := parseFilters("testdata/filters.md")
	if err != nil {
		t.Fatal(err)
	}
	if fc.baseline.name != "no filter" || fc.baseline.cpuNs != 304 || fc.baseline.bytes != 304 || fc.baseline.allocs != 4 {
		t.Errorf("baseline = %+v", fc.baseline)
	}
	var names []string
	for _, c := range fc.chains {
		names = append(names, short(c.name))
	}
	if want := []string{"jwt-auth", "rate-limit", "tracing", "all three"}; !slices.Equal(names, want) {
		t.Errorf("chains = %q, want %q", names, want)
	}
	if c := fc.chains[0]; c.cpuNs != 101662 || c.bytes != 5934 || c.allocs != 33 || !math.IsNaN(c.ns) {
		t.Errorf("jwt-auth = %+v, want 101662 CPU ns, 5934 B, 33 allocs and no wall ns/op column", c)
	}
	if got := fc.chains[3].cpuNs; got != 628725 {
		t.Errorf("all three CPU ns/op = %v, want 628725", got)
	}
}

func TestParseBrokers(t *testing.T) {
	br, err := parseBrokers("testdata/brokers.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(br.ratios) != 4 {
		t.Fatalf("got %d ratios, want 4", len(br.ratios))
	}
	if r := br.ratios[0]; r.benchmark != "Redis XADD" || r.median != 1.10 || r.low != 0.96 || r.high != 1.15 {
		t.Errorf("Redis XADD = %+v", r)
	}
	if r := br.ratios[3]; r.median != 0.98 || r.low != 0.97 || r.high != 1.78 {
		t.Errorf("RabbitMQ consume + ack = %+v, want 0.98 (0.97–1.78)", r)
	}
	if len(br.gateway) != 1 || len(br.gateway[0].rows) != 2 {
		t.Fatalf("gateway tables = %+v, want one of two rows", br.gateway)
	}
	if g := br.gateway[0].rows[1]; g.ns != 97689 || g.bytes != 1193 || g.allocs != 19 {
		t.Errorf("through meshd = %+v", g)
	}
	if c := br.gateway[0].caption; !strings.HasPrefix(c, "Through the meshd gateway") {
		t.Errorf("gateway caption = %q, want the paragraph above the code block", c)
	}
}

func TestParseEventlog(t *testing.T) {
	res, err := parseEventlog("testdata/eventlog.md")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.writers, []int{1, 64}) {
		t.Errorf("writers = %v, want [1 64]", res.writers)
	}
	if len(res.stores) != 3 {
		t.Fatalf("got %d stores, want 3", len(res.stores))
	}
	if s := res.stores[0]; short(s.name) != "file log" || s.appends[1] != 948 || s.appends[64] != 27365 || s.reads != 158042 {
		t.Errorf("file log = %+v", s)
	}
	if s := res.stores[2]; short(s.name) != "NATS JetStream" || s.appends[64] != 15570 {
		t.Errorf("JetStream = %+v", s)
	}
}

func TestParseGRPC(t *testing.T) {
	tables, err := parseGRPC("testdata/grpc-client.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 {
		t.Fatalf("got %d tables, want 2", len(tables))
	}
	if r := tables[0].rows[1]; r.name != "through meshd (h2c)" || r.ns != 813239 || r.bytes != 24054 || r.allocs != 306 {
		t.Errorf("through meshd = %+v", r)
	}
	if r := tables[1].rows[0]; r.name != "plaintext" || r.ns != 259272 {
		t.Errorf("plaintext hop = %+v", r)
	}
	if got, want := captionLabel(tables[0].caption), "Unary gRPC, 2 parallel clients"; got != want {
		t.Errorf("caption label = %q, want %q", got, want)
	}
}

// The writers may change a table within what they produce: the benchmark
// names ("none"), its wall ns/op column, more writer counts. The parsers
// follow.
func TestParsersFollowTheWriters(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	fc, err := parseFilters(write("filters.md", "# F\n\n| chain | ns/op | cpu-ns/op | B/op | allocs/op |\n|---|--:|--:|--:|--:|\n| rate-limit | 90,000 | 83,555 | 4,921 | 45 |\n| none | 400 | 304 | 304 | 4 |\n"))
	if err != nil {
		t.Fatal(err)
	}
	if fc.baseline.name != "none" || fc.baseline.ns != 400 || len(fc.chains) != 1 || fc.chains[0].ns != 90000 {
		t.Errorf("filters = %+v", fc)
	}
	var files []string
	for _, f := range filterFigures(fc) {
		files = append(files, f.file)
	}
	if !slices.Contains(files, "filters-latency.png") {
		t.Errorf("figures %q lack filters-latency.png for a table with wall ns/op", files)
	}

	res, err := parseEventlog(write("eventlog.md", "| store | appends/s, 64 writers | appends/s, 8 writers |\n|---|---|---|\n| file log | 30,000 | 9,000 |\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.writers, []int{8, 64}) || res.stores[0].appends[8] != 9000 || !math.IsNaN(res.stores[0].reads) {
		t.Errorf("eventlog = %+v", res)
	}
	if figs := eventlogFigures(res); len(figs) != 1 {
		t.Errorf("got %d eventlog figures without reads/s, want 1", len(figs))
	}
}

func TestParsersRejectFilesWithoutTheirTable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.md")
	if err := os.WriteFile(p, []byte("# Nothing\n\n| fact | value |\n|---|---|\n| nproc | 2 |\n\n```\n| chain | CPU ns/op |\n|---|---|\n| none | 1 |\n```\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, parse := range map[string]func(string) error{
		"http":        func(p string) error { _, err := parseHTTP(p); return err },
		"filters":     func(p string) error { _, err := parseFilters(p); return err },
		"brokers":     func(p string) error { _, err := parseBrokers(p); return err },
		"eventlog":    func(p string) error { _, err := parseEventlog(p); return err },
		"grpc-client": func(p string) error { _, err := parseGRPC(p); return err },
	} {
		if err := parse(p); err == nil {
			t.Errorf("%s: parsed a file without its table (the one in a code block does not count)", name)
		}
	}
}

// TestCurrentResultsParse reads the live bench/results files, so that a
// benchmark whose table changed shape fails here rather than in make bench.
func TestCurrentResultsParse(t *testing.T) {
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			figs, err := src.figures(filepath.Join("..", "results", src.name+".md"))
			if err != nil {
				t.Fatal(err)
			}
			if len(figs) == 0 {
				t.Fatal("no figures")
			}
		})
	}
}
