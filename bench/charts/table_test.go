package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestNum(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"12412", 12412},
		{"**1.12**", 1.12},
		{"27,365 (29.6 appends per fsync)", 27365},
		{"~0.9", 0.9},
		{"1\u202f081", 1081},
		{"61 %", 61},
		{"-3.5", -3.5},
	} {
		if got := num(tc.in); got != tc.want {
			t.Errorf("num(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"—", "n/a", "", "about 3"} {
		if got := num(in); !math.IsNaN(got) {
			t.Errorf("num(%q) = %v, want NaN", in, got)
		}
	}
}

func TestNumRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		v, low, high float64
	}{
		{"1.10 (0.96–1.15)", 1.10, 0.96, 1.15},
		{"0.98 (0.97–1.78, one outlier)", 0.98, 0.97, 1.78},
		{"1,100 (1,000 - 1,200)", 1100, 1000, 1200},
	} {
		v, lo, hi := numRange(tc.in)
		if v != tc.v || lo != tc.low || hi != tc.high {
			t.Errorf("numRange(%q) = %v, %v, %v; want %v, %v, %v", tc.in, v, lo, hi, tc.v, tc.low, tc.high)
		}
	}
	if _, lo, hi := numRange("1.10"); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("numRange without a range gave %v–%v, want NaN", lo, hi)
	}
}

func TestReadTables(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.md")
	md := "# Title\n\nFirst paragraph.\n\nThe caption, on\ntwo lines:\n\n```sh\ngo test -bench .\n| not | a table |\n|---|---|\n```\n\n" +
		"| name | a \\| b |\n|:---|---:|\n| **x** | 1 |\n| `y` | 2 |\n\n| no | separator |\n| so | skipped |\n\n## Next\n\n| k | v |\n|---|---|\n| z | 3 |\n"
	if err := os.WriteFile(p, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	tables, err := readTables(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 {
		t.Fatalf("got %d tables, want 2: %+v", len(tables), tables)
	}
	first := tables[0]
	if first.caption != "The caption, on two lines:" {
		t.Errorf("caption = %q", first.caption)
	}
	if !slices.Equal(first.header, []string{"name", "a | b"}) {
		t.Errorf("header = %q", first.header)
	}
	if len(first.rows) != 2 || first.rows[0][0] != "x" || first.rows[1][0] != "y" || first.rows[1][1] != "2" {
		t.Errorf("rows = %q", first.rows)
	}
	if tables[1].caption != "" || tables[1].rows[0][1] != "3" {
		t.Errorf("second table = %+v, want no caption after a heading and z = 3", tables[1])
	}
}

func TestLabels(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{short("jwt-auth (repeated valid token, cache hit)"), "jwt-auth"},
		{short("(only a note)"), "(only a note)"},
		{captionLabel("A request through two meshd instances, in one run:"), "A request through two meshd instances"},
		{wrapLabels([]string{"RabbitMQ publish with confirm, 10 messages per call"}, 28)[0], "RabbitMQ publish with\nconfirm, 10 messages per\ncall"},
		{format(158042, false), "158k"},
		{format(27365, false), "27.4k"},
		{format(628.725, false), "629"},
		{format(83.555, false), "83.6"},
		{format(4, true), "4"},
		{format(306, true), "306"},
		{format(4, false), "4.00"},
		{format(1.1, false), "1.10"},
		{format(2.5e6, false), "2.5M"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
