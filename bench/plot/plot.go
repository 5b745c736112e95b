// Package plot draws the PNG plots of a benchmark results set with
// gonum/plot. It is its own package, used only by the ferry-plot program,
// so that the ferry CLI (and the bench package it links) does not carry
// the plotting library.
package plot

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ferry-hpc/ferry/bench"
	"github.com/ferry-hpc/ferry/internal/units"
)

// palette gives each strategy the same colour in every plot.
var palette = map[string]color.Color{
	"sockets":            color.RGBA{R: 120, G: 120, B: 120, A: 255},
	"copy":               color.RGBA{R: 214, G: 39, B: 40, A: 255},
	"pipeline":           color.RGBA{R: 31, G: 119, B: 180, A: 255},
	"sendfile":           color.RGBA{R: 44, G: 160, B: 44, A: 255},
	"auto":               color.RGBA{R: 148, G: 103, B: 189, A: 255},
	bench.BaseMemcpy:     color.RGBA{A: 255},
	bench.BaseFabric:     color.RGBA{R: 255, G: 127, B: 14, A: 255},
	bench.BaseFabricRead: color.RGBA{R: 255, G: 127, B: 14, A: 255},
	bench.BasePread:      color.RGBA{R: 140, G: 86, B: 75, A: 255},
	bench.BaseTCP:        color.RGBA{R: 188, G: 189, B: 34, A: 255},
}

func colorOf(name string) color.Color {
	if c, ok := palette[name]; ok {
		return c
	}
	return color.RGBA{R: 23, G: 190, B: 207, A: 255}
}

type errXYs struct {
	plotter.XYs
	plotter.YErrors
}

// Write writes, per provider and direction, throughput against request
// size (one line per strategy, error bars min–max, baselines dashed) and
// the ratio to memcpy, into dir. It returns the file names.
//
// Both axes are logarithmic: the baselines (memcpy, the page cache) can
// be ten times the Ferry figures, and on a linear axis they would squash
// the Ferry lines into the bottom of the plot.
func Write(r *bench.Results, dir string) ([]string, error) {
	g, ok := bench.DefaultGroup(r)
	if !ok {
		return nil, nil
	}
	var provs []string
	seen := map[string]bool{}
	for _, s := range r.Series() {
		if s.Name != "sockets" && !seen[s.Provider] {
			seen[s.Provider] = true
			provs = append(provs, s.Provider)
		}
	}
	if len(provs) == 0 { // sockets only
		provs = []string{"-"}
	}
	var names []string
	for _, prov := range provs {
		for _, d := range []string{"read", "write"} {
			for _, kind := range []string{"throughput", "ratio-memcpy"} {
				name := fmt.Sprintf("%s-%s-%s.png", kind, strings.ReplaceAll(strings.ReplaceAll(prov, ";", "_"), "-", "sockets"), d)
				made, err := onePlot(r, g, prov, d, kind == "ratio-memcpy", filepath.Join(dir, name))
				if err != nil {
					return names, err
				}
				if made {
					names = append(names, name)
				}
			}
		}
	}
	return names, nil
}

func onePlot(r *bench.Results, g bench.Group, prov, dir string, ratioPlot bool, path string) (bool, error) {
	p := gplot.New()
	what := "throughput, median of the repetitions; bars: min–max"
	if ratioPlot {
		what = "ratio to a single-thread memcpy of the same request size"
	}
	provLabel := prov
	if prov == "-" {
		provLabel = "sockets only"
	}
	p.Title.Text = fmt.Sprintf("Ferry %s, provider %s: %s\n%s", dir, provLabel, what, g)
	p.X.Label.Text = "request size (bytes, IEC units; log scale)"
	if ratioPlot {
		p.Y.Label.Text = "× memcpy (memcpy = 1; log scale)"
	} else {
		p.Y.Label.Text = "GB/s (1 GB = 10^9 bytes; log scale)"
	}
	p.X.Scale = gplot.LogScale{}
	p.Y.Scale = gplot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	sizes := r.Sizes(bench.KindFerry)
	var ticks []gplot.Tick
	for _, s := range sizes {
		ticks = append(ticks, gplot.Tick{Value: float64(s), Label: units.Bytes(s)})
	}
	p.X.Tick.Marker = gplot.ConstantTicks(ticks)
	p.Legend.Top = true
	p.Legend.Left = true

	any := false
	ymin, ymax := math.Inf(1), 0.0
	see := func(v float64) {
		if v > 0 && !math.IsInf(v, 0) {
			ymin, ymax = min(ymin, v), max(ymax, v)
		}
	}
	memcpyAt := func(z int64) (float64, bool) {
		mc := r.Baseline(bench.BaseMemcpy, "", z)
		return mc, !math.IsNaN(mc) && mc > 0
	}
	for _, s := range r.Series() {
		if s.Name != "sockets" && s.Provider != prov {
			continue
		}
		var pts errXYs
		for _, z := range sizes {
			pt, ok := r.Find(g, s, dir, z)
			if !ok || pt.Err != "" || pt.GBs.N == 0 || !(pt.GBs.Min > 0) {
				continue // a log axis has no place for zero
			}
			y, lo, hi := pt.GBs.Median, pt.GBs.Min, pt.GBs.Max
			if ratioPlot {
				mc, ok := memcpyAt(z)
				if !ok {
					continue
				}
				y, lo, hi = y/mc, lo/mc, hi/mc
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(z), Y: y})
			see(lo)
			see(hi)
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{y - lo, hi - y})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		any = true
		l, sc, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return false, err
		}
		c := colorOf(s.Name)
		l.Color, sc.Color = c, c
		l.Width = vg.Points(1.5)
		sc.Shape = draw.CircleGlyph{}
		eb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return false, err
		}
		eb.Color = c
		p.Add(l, sc, eb)
		label := s.Name
		if s.Name == "sockets" {
			label = "sockets (no fabric)" // TCP, or the Unix socket for a local client
		}
		p.Legend.Add(label, l, sc)
	}
	if !any {
		return false, nil
	}
	// Baselines, dashed.
	type bl struct{ name, prov, label string }
	bls := []bl{{bench.BaseMemcpy, "", "memcpy (1 thread)"}}
	if prov != "-" && dir == "read" {
		bls = append(bls, bl{bench.BaseFabric, prov, "raw fi_write " + prov})
	}
	if prov != "-" && dir == "write" {
		bls = append(bls, bl{bench.BaseFabricRead, prov, "raw fi_read " + prov})
	}
	bls = append(bls, bl{bench.BaseTCP, "", "TCP loopback"}, bl{bench.BaseUnix, "", "Unix stream socket"})
	if dir == "read" {
		bls = append(bls, bl{bench.BasePread, "", "local pread (page cache)"})
	}
	for _, b := range bls {
		if ratioPlot && b.name == bench.BaseMemcpy {
			continue
		}
		var xy plotter.XYs
		for _, z := range sizes {
			v := r.Baseline(b.name, b.prov, z)
			if math.IsNaN(v) || v <= 0 {
				continue
			}
			if ratioPlot {
				mc, ok := memcpyAt(z)
				if !ok {
					continue
				}
				v /= mc
			}
			xy = append(xy, plotter.XY{X: float64(z), Y: v})
			see(v)
		}
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return false, err
		}
		l.Color = colorOf(b.name)
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		l.Width = vg.Points(1)
		p.Add(l)
		p.Legend.Add(b.label+" (baseline)", l)
	}
	p.Add(plotter.NewGrid())
	// Room below the lowest figure, and above the highest for the legend.
	p.Y.Min, p.Y.Max = ymin/1.5, ymax*4
	if len(sizes) == 1 { // a log axis needs a range
		p.X.Min, p.X.Max = float64(sizes[0])/2, float64(sizes[0])*2
	}
	return true, p.Save(9*vg.Inch, 6*vg.Inch, path)
}

// logTicks marks 1, 2 and 5 times each power of ten in range, so a log
// axis that spans less than two decades still has labelled ticks.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []gplot.Tick {
	var ticks []gplot.Tick
	if !(lo > 0) || !(hi > lo) {
		return ticks
	}
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			ticks = append(ticks, gplot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ticks
}
