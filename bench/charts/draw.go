package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// figure is one PNG: grouped bars, one group per x label and, within each
// group, one bar per series, side by side.
type figure struct {
	file   string // base name, NAME-what.png for results/NAME.md
	title  string
	unit   string // the y axis label
	groups []string
	series []series
	// baseline draws the first series in grey: it is what the others are
	// measured against.
	baseline bool
	// count labels the bars as whole numbers (allocations).
	count bool
}

// series is one bar per group. A NaN value is no bar (not measured); low and
// high, when given, draw a whisker over the bar (the spread of the runs).
type series struct {
	name              string
	values, low, high []float64
}

// The size of every chart: wide enough for six groups of labelled bars.
const (
	figWidth  = 10 * vg.Inch
	figHeight = 4.5 * vg.Inch
)

var (
	grey    = color.RGBA{0x9a, 0x9a, 0x9a, 0xff}
	palette = []color.Color{
		color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
		color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff},
		color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	}
)

// color returns series i's colour.
func (f figure) color(i int) color.Color {
	if f.baseline {
		if i == 0 {
			return grey
		}
		i--
	}
	return palette[i%len(palette)]
}

// drawFigure writes f as dir/f.file: the bars, each labelled with its value above
// it, a legend naming the series, and f's title and unit.
func drawFigure(f figure, dir string) error {
	f = f.dropEmptyGroups()
	if len(f.groups) == 0 || len(f.series) == 0 {
		return fmt.Errorf("draw %s: nothing measured", f.file)
	}
	p := plot.New()
	p.Title.Text = f.title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Y.Label.Text = f.unit
	p.Y.Min = 0
	p.Y.Tick.Marker = plainTicks{}
	p.X.Tick.Label.Font.Size = vg.Points(10)
	// One group's slot is the plot width over the groups; its bars take
	// three quarters of it, at most 36 pt each.
	slot := (figWidth - vg.Inch) / vg.Length(len(f.groups))
	w := min(slot*3/4/vg.Length(len(f.series)), vg.Points(36))
	for si, s := range f.series {
		vals := make(plotter.Values, len(f.groups))
		var labels plotter.XYLabels
		for gi := range f.groups {
			v := s.values[gi]
			if math.IsNaN(v) {
				continue
			}
			vals[gi] = v
			top := v
			if hi := at(s.high, gi); !math.IsNaN(hi) {
				top = max(top, hi)
			}
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(gi), Y: top})
			labels.Labels = append(labels.Labels, format(v, f.count))
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("draw %s: %w", f.file, err)
		}
		bars.Color = f.color(si)
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(si)-float64(len(f.series)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(s.name, bars)
		if s.low != nil && s.high != nil {
			p.Add(&whiskers{series: s, offset: bars.Offset, width: w / 3})
		}
		if len(labels.XYs) > 0 {
			l, err := plotter.NewLabels(labels)
			if err != nil {
				return fmt.Errorf("draw %s: %w", f.file, err)
			}
			for i := range l.TextStyle {
				l.TextStyle[i].Font = font.From(plotter.DefaultFont, vg.Points(8))
				l.TextStyle[i].XAlign = text.XCenter
				l.TextStyle[i].YAlign = text.YBottom
			}
			l.Offset = vg.Point{X: bars.Offset, Y: vg.Points(2)}
			p.Add(l)
		}
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.Padding = vg.Points(3)
	p.NominalX(f.groups...)
	// Half a slot of room on either side, so the outer groups' bars are not
	// cut off, and room above the bars for the legend (one line per series).
	p.X.Min, p.X.Max = -0.5, float64(len(f.groups))-0.5
	p.Y.Max *= 1.08 + 0.07*float64(len(f.series))
	if err := p.Save(figWidth, figHeight, filepath.Join(dir, f.file)); err != nil {
		return fmt.Errorf("draw %s: %w", f.file, err)
	}
	return nil
}

// dropEmptyGroups leaves out the groups no series has a value for (direct,
// for the proxy's CPU-second, has none).
func (f figure) dropEmptyGroups() figure {
	out := f
	out.groups = nil
	out.series = make([]series, len(f.series))
	for si, s := range f.series {
		out.series[si] = series{name: s.name}
	}
	for gi, g := range f.groups {
		empty := true
		for _, s := range f.series {
			if !math.IsNaN(at(s.values, gi)) {
				empty = false
			}
		}
		if empty {
			continue
		}
		out.groups = append(out.groups, g)
		for si, s := range f.series {
			o := &out.series[si]
			o.values = append(o.values, at(s.values, gi))
			if s.low != nil && s.high != nil {
				o.low, o.high = append(o.low, at(s.low, gi)), append(o.high, at(s.high, gi))
			}
		}
	}
	return out
}

// at returns v[i], or NaN past the end.
func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return math.NaN()
}

// format prints a bar's value short enough to sit above it: 158042 is
// "158k", 27365 "27.4k", 628.7 "629", 83.6 "83.6", 1.1 "1.10"; a count
// below 100 keeps no decimals (4 allocations, not 4.00).
func format(v float64, count bool) string {
	a := math.Abs(v)
	var s string
	switch {
	case count && a < 1e4:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1e6:
		s = strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case a >= 1e5:
		s = strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case a >= 1e4:
		s = strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a >= 100:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.Replace(s, ".0M", "M", 1)
}

// whiskers draws each bar's low–high range as a vertical line with caps, at
// the bar's offset (plotter.YErrorBars has no offset for grouped bars).
type whiskers struct {
	series
	offset, width vg.Length
}

// Plot implements plot.Plotter.
func (w *whiskers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ls := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
	for i := range w.values {
		lo, hi := at(w.low, i), at(w.high, i)
		if math.IsNaN(lo) || math.IsNaN(hi) {
			continue
		}
		x := trX(float64(i)) + w.offset
		yl, yh := trY(lo), trY(hi)
		c.StrokeLine2(ls, x, yl, x, yh)
		c.StrokeLine2(ls, x-w.width/2, yl, x+w.width/2, yl)
		c.StrokeLine2(ls, x-w.width/2, yh, x+w.width/2, yh)
	}
}

// DataRange implements plot.DataRanger, so the axis reaches the highest
// whisker.
func (w *whiskers) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = 0, float64(len(w.values)-1), math.Inf(1), math.Inf(-1)
	for i := range w.values {
		for _, v := range []float64{at(w.low, i), at(w.high, i)} {
			if !math.IsNaN(v) {
				ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
			}
		}
	}
	if math.IsInf(ymin, 1) {
		ymin, ymax = 0, 0
	}
	return xmin, xmax, ymin, ymax
}

// plainTicks are gonum's default ticks labelled without trailing zeros:
// "750", not "750.00".
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
	}
	return ticks
}
