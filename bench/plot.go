package bench

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ferry-hpc/ferry/internal/units"
)

// palette gives each strategy the same colour in every plot.
var palette = map[string]color.Color{
	"sockets":      color.RGBA{R: 120, G: 120, B: 120, A: 255},
	"copy":         color.RGBA{R: 214, G: 39, B: 40, A: 255},
	"pipeline":     color.RGBA{R: 31, G: 119, B: 180, A: 255},
	"sendfile":     color.RGBA{R: 44, G: 160, B: 44, A: 255},
	"auto":         color.RGBA{R: 148, G: 103, B: 189, A: 255},
	BaseMemcpy:     color.RGBA{A: 255},
	BaseFabric:     color.RGBA{R: 255, G: 127, B: 14, A: 255},
	BaseFabricRead: color.RGBA{R: 255, G: 127, B: 14, A: 255},
	BasePread:      color.RGBA{R: 140, G: 86, B: 75, A: 255},
	BaseTCP:        color.RGBA{R: 188, G: 189, B: 34, A: 255},
}

func colorOf(name string) color.Color {
	if c, ok := palette[name]; ok {
		return c
	}
	return color.RGBA{R: 23, G: 190, B: 207, A: 255}
}

// plotGroup is the group the plots show: one client, warm cache, the most
// servers, the first registration-cache setting.
func plotGroup(r *Results) (group, bool) {
	gs := groupsOf(r)
	if len(gs) == 0 {
		return group{}, false
	}
	best := gs[0]
	score := func(g group) int {
		s := g.Servers
		if g.Clients == 1 {
			s += 1000
		}
		if g.Cache == "warm" {
			s += 100
		}
		return s
	}
	for _, g := range gs[1:] {
		if score(g) > score(best) {
			best = g
		}
	}
	return best, true
}

type errXYs struct {
	plotter.XYs
	plotter.YErrors
}

// WritePlots writes, per provider and direction, throughput vs request
// size (one line per strategy, error bars min–max, baselines dashed) and
// the ratio to memcpy. It returns the file names.
func WritePlots(r *Results, dir string) ([]string, error) {
	g, ok := plotGroup(r)
	if !ok {
		return nil, nil
	}
	var provs []string
	seen := map[string]bool{}
	for _, s := range seriesOf(r) {
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

func onePlot(r *Results, g group, prov, dir string, ratioPlot bool, path string) (bool, error) {
	p := plot.New()
	what := "throughput (GB/s, median; bars: min–max)"
	if ratioPlot {
		what = "ratio to single-thread memcpy of the same size (memcpy = 1)"
	}
	provLabel := prov
	if prov == "-" {
		provLabel = "sockets only"
	}
	p.Title.Text = fmt.Sprintf("Ferry %s, provider %s: %s\n%s", dir, provLabel, what, g)
	p.X.Label.Text = "request size (log scale)"
	if ratioPlot {
		p.Y.Label.Text = "× memcpy"
	} else {
		p.Y.Label.Text = "GB/s"
	}
	p.X.Scale = plot.LogScale{}
	sizes := sizesOf(r, KindFerry)
	var ticks []plot.Tick
	for _, s := range sizes {
		ticks = append(ticks, plot.Tick{Value: float64(s), Label: units.Bytes(s)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true

	any := false
	ymax := 0.0
	for _, s := range seriesOf(r) {
		if s.Name != "sockets" && s.Provider != prov {
			continue
		}
		var pts errXYs
		for _, z := range sizes {
			pt, ok := r.find(g, s, dir, z)
			if !ok || pt.Err != "" || pt.GBs.N == 0 {
				continue
			}
			y, lo, hi := pt.GBs.Median, pt.GBs.Min, pt.GBs.Max
			if ratioPlot {
				mc := r.baseline(BaseMemcpy, "", z)
				if math.IsNaN(mc) || mc == 0 {
					continue
				}
				y, lo, hi = y/mc, lo/mc, hi/mc
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(z), Y: y})
			ymax = max(ymax, hi)
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
			label = "sockets (TCP)"
		}
		p.Legend.Add(label, l, sc)
	}
	if !any {
		return false, nil
	}
	// Baselines, dashed.
	type bl struct{ name, prov, label string }
	bls := []bl{{BaseMemcpy, "", "memcpy (1 thread)"}}
	if prov != "-" && dir == "read" {
		bls = append(bls, bl{BaseFabric, prov, "raw fi_write " + prov})
	}
	if prov != "-" && dir == "write" {
		bls = append(bls, bl{BaseFabricRead, prov, "raw fi_read " + prov})
	}
	bls = append(bls, bl{BaseTCP, "", "TCP loopback"})
	if dir == "read" {
		bls = append(bls, bl{BasePread, "", "local pread"})
	}
	for _, b := range bls {
		if ratioPlot && b.name == BaseMemcpy {
			continue
		}
		var xy plotter.XYs
		for _, z := range sizes {
			v := r.baseline(b.name, b.prov, z)
			if math.IsNaN(v) {
				continue
			}
			if ratioPlot {
				mc := r.baseline(BaseMemcpy, "", z)
				if math.IsNaN(mc) || mc == 0 {
					continue
				}
				v /= mc
			}
			xy = append(xy, plotter.XY{X: float64(z), Y: v})
			ymax = max(ymax, v)
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
	if ymax > 0 {
		p.Y.Max = ymax * 1.6 // head room for the legend
	}
	if len(sizes) == 1 { // a log axis needs a range
		p.X.Min, p.X.Max = float64(sizes[0])/2, float64(sizes[0])*2
	}
	return true, p.Save(9*vg.Inch, 6*vg.Inch, path)
}
