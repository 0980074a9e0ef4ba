package main

import (
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg/vgimg"
)

func TestDrawFigure(t *testing.T) {
	dir := t.TempDir()
	f := figure{file: "test-bars.png", title: "Test", unit: "req/s", baseline: true,
		groups: []string{"a", "b\nsecond line", "nothing"},
		series: []series{
			{name: "baseline", values: []float64{1, 2, math.NaN()}},
			{name: "measured", values: []float64{3, math.NaN(), math.NaN()},
				low: []float64{2.5, math.NaN(), math.NaN()}, high: []float64{3.5, math.NaN(), math.NaN()}},
		}}
	if err := drawFigure(f, dir); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(filepath.Join(dir, f.file))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	img, err := png.Decode(r)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	w, h := int(figWidth.Dots(vgimg.DefaultDPI)), int(figHeight.Dots(vgimg.DefaultDPI))
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
}

func TestDrawFigureWithNothingMeasured(t *testing.T) {
	f := figure{file: "empty.png", groups: []string{"a"}, series: []series{{name: "s", values: []float64{math.NaN()}}}}
	if err := drawFigure(f, t.TempDir()); err == nil {
		t.Error("drew a figure without a single value")
	}
}

func TestDropEmptyGroups(t *testing.T) {
	f := figure{groups: []string{"direct", "meshd"}, series: []series{
		{name: "0.1 KB", values: []float64{math.NaN(), 20328}},
		{name: "16 KB", values: []float64{math.NaN(), 15914}},
	}}.dropEmptyGroups()
	if !slices.Equal(f.groups, []string{"meshd"}) || f.series[1].values[0] != 15914 {
		t.Errorf("got %+v, want only meshd", f)
	}
}

// TestRun draws every chart of the testdata results into a temp dir and
// removes a chart the run no longer draws, leaving others' files alone.
func TestRun(t *testing.T) {
	out := t.TempDir()
	for _, name := range []string{"filters-old.png", "notes.png", "http-throughput.png"} {
		if err := os.WriteFile(filepath.Join(out, name), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var list strings.Builder
	if err := run("testdata", out, &list, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list.String()), "\n")
	if len(lines) != 13 || lines[0] != "http.md http-throughput.png" || lines[12] != "grpc-client.md grpc-client-allocs.png" {
		t.Errorf("listed %q, want 13 charts from http.md's first to grpc-client.md's last", lines)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{
		"brokers-adapter-vs-raw.png", "brokers-gateway.png",
		"eventlog-appends.png", "eventlog-reads.png",
		"filters-alloc-bytes.png", "filters-allocs.png", "filters-cpu.png",
		"grpc-client-allocs.png", "grpc-client-bytes.png", "grpc-client-time.png",
		"http-cpu-efficiency.png", "http-p99.png", "http-throughput.png",
		"notes.png",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files = %q\nwant    %q", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "http-throughput.png")); string(b) == "old" {
		t.Error("http-throughput.png was not redrawn")
	}
}

func TestRunSkipsMissingAndReportsBrokenFiles(t *testing.T) {
	results, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(results, "filters.md"), []byte("# Filters\n\nno table yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(results, out, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("a results file without its table was not reported")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("drew %d files from no usable results", len(entries))
	}
}

func TestOwner(t *testing.T) {
	for file, want := range map[string]string{
		"grpc-client-time.png": "grpc-client",
		"http-p99.png":         "http",
		"grpc-time.png":        "",
		"httpd-x.png":          "",
	} {
		if got := owner(file); got != want {
			t.Errorf("owner(%q) = %q, want %q", file, got, want)
		}
	}
}
