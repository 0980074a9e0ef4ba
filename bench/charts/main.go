package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// source is one results file and how its tables become figures; every
// figure of results/NAME.md is written as NAME-*.png.
type source struct {
	name    string
	figures func(path string) ([]figure, error)
}

// figuresOf adapts a parser and its figure builder into a source's
// figures function.
func figuresOf[T any](parse func(string) (T, error), build func(T) []figure) func(string) ([]figure, error) {
	return func(path string) ([]figure, error) {
		v, err := parse(path)
		if err != nil {
			return nil, err
		}
		return build(v), nil
	}
}

// sources are the results files that have charts.
var sources = []source{
	{"http", figuresOf(parseHTTP, httpFigures)},
	{"filters", figuresOf(parseFilters, filterFigures)},
	{"brokers", figuresOf(parseBrokers, brokerFigures)},
	{"eventlog", figuresOf(parseEventlog, eventlogFigures)},
	{"grpc-client", figuresOf(parseGRPC, grpcFigures)},
}

func main() {
	results := flag.String("results", "bench/results", "folder of the results .md files")
	out := flag.String("out", "bench", "folder for the PNG files (beside RESULTS.md)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*results, *out, os.Stdout, log); err != nil {
		log.Error("charts failed", "err", err)
		os.Exit(1)
	}
}

// run draws the figures of every results file that exists in results into
// out, and removes the NAME-*.png files of a drawn source that it no longer
// draws. For bench/assemble.sh, it lists each chart it drew on list as
// "NAME.md NAME-what.png", in the order the section should show them. A
// file it cannot read does not stop the others; all errors are returned
// together.
func run(results, out string, list io.Writer, log *slog.Logger) error {
	var errs []error
	for _, src := range sources {
		path := filepath.Join(results, src.name+".md")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			log.Info("no results file, no charts", "file", path)
			continue
		}
		figs, err := src.figures(path)
		if err != nil {
			errs = append(errs, err) // the parsers name the file
			continue
		}
		var drawn []string
		for _, f := range figs {
			if err := drawFigure(f, out); err != nil {
				errs = append(errs, fmt.Errorf("charts of %s: %w", path, err))
				continue
			}
			drawn = append(drawn, f.file)
			log.Info("wrote chart", "file", filepath.Join(out, f.file))
			if _, err := fmt.Fprintln(list, src.name+".md", f.file); err != nil {
				return fmt.Errorf("list charts: %w", err)
			}
		}
		if err := removeStale(out, src.name, drawn, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeStale deletes out/NAME-*.png files that this run did not draw (a
// figure whose column left the table), so RESULTS.md links no old chart.
// A file that belongs to a longer source name (NAME-x-*.png of results
// NAME-x.md) is left alone.
func removeStale(out, name string, drawn []string, log *slog.Logger) error {
	matches, err := filepath.Glob(filepath.Join(out, name+"-*.png"))
	if err != nil {
		return fmt.Errorf("remove old charts of %s: %w", name, err)
	}
	for _, m := range matches {
		base := filepath.Base(m)
		if slices.Contains(drawn, base) || owner(base) != name {
			continue
		}
		if err := os.Remove(m); err != nil {
			return fmt.Errorf("remove old chart: %w", err)
		}
		log.Info("removed old chart", "file", m)
	}
	return nil
}

// owner returns the source whose charts file is: the longest name that
// file starts with, followed by "-".
func owner(file string) string {
	best := ""
	for _, s := range sources {
		if strings.HasPrefix(file, s.name+"-") && len(s.name) > len(best) {
			best = s.name
		}
	}
	return best
}
