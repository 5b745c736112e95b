package bench

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ferry-hpc/ferry/internal/units"
)

// Write writes results.csv and results.md into dir. With a plotter (the
// ferry-plot program) it first has it draw the PNG plots from results.csv,
// and the report shows them; a plotter that fails leaves a report without
// plots and an error.
func Write(r *Results, dir, plotter string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.csv"))
	if err != nil {
		return err
	}
	if err := WriteCSV(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	var names []string
	var plotErr error
	if plotter != "" {
		names, plotErr = runPlotter(plotter, dir)
	}
	m, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		return err
	}
	WriteMarkdown(m, r, names)
	return errors.Join(plotErr, m.Close())
}

// runPlotter runs `plotter dir`, which prints the names of the plots it
// wrote, one a line.
func runPlotter(plotter, dir string) ([]string, error) {
	var stderr strings.Builder
	cmd := exec.Command(plotter, dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("plots: %s %s: %w: %s", plotter, dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.Fields(string(out)), nil
}

func fnum(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// sfield formats a figure of s, blank when s has no measurements.
func sfield(s Summary, x float64) string {
	if s.N == 0 {
		return ""
	}
	return fnum(x, 2)
}

func wall(s float64) string {
	if s == 0 {
		return ""
	}
	return fnum(s, 2)
}

// dash formats x, or "–" when it is missing.
func dash(x float64, prec int) string {
	if v := fnum(x, prec); v != "" {
		return v
	}
	return "–"
}

// CSVHeader is the first row of results.csv.
var CSVHeader = []string{"kind", "name", "provider", "dir", "size_bytes", "size", "servers", "clients", "cache", "regcache", "pin",
	"reps", "median_gbs", "min_gbs", "max_gbs", "q1_gbs", "q3_gbs", "prep_us_median", "prep_us_min", "prep_us_max",
	"ratio_memcpy", "ratio_limit", "limit", "ratio_pread", "data_path", "residency", "wall_s", "note", "error"}

// WriteCSV writes every point, one row each, with its ratios.
func WriteCSV(w io.Writer, r *Results) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, p := range r.Points {
		var q Ratios
		q.Memcpy, q.Limit, q.Pread = math.NaN(), math.NaN(), math.NaN()
		if p.Kind == KindFerry {
			q = r.RatiosOf(p)
		}
		if p.Kind == KindBaseline && p.Name != BaseMemcpy {
			q.Memcpy = ratio(p.GBs.Median, r.Baseline(BaseMemcpy, "", p.Size))
		}
		cw.Write([]string{p.Kind, p.Name, p.Provider, p.Dir, strconv.FormatInt(p.Size, 10), units.Bytes(p.Size),
			strconv.Itoa(p.Servers), strconv.Itoa(p.Clients), p.Cache, p.RegCache, strconv.FormatBool(p.Pin),
			strconv.Itoa(p.GBs.N), fnum(p.GBs.Median, 4), fnum(p.GBs.Min, 4), fnum(p.GBs.Max, 4), fnum(p.GBs.Q1, 4), fnum(p.GBs.Q3, 4),
			sfield(p.PrepUs, p.PrepUs.Median), sfield(p.PrepUs, p.PrepUs.Min), sfield(p.PrepUs, p.PrepUs.Max),
			fnum(q.Memcpy, 3), fnum(q.Limit, 3), q.LimitName, fnum(q.Pread, 3), p.DataPath, p.Residency, wall(p.Wall), p.Note, p.Err})
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads a results.csv back into the points it lists, so plots and
// tables can be made later, by another program. The machine and setup are
// not in the CSV.
func ReadCSV(rd io.Reader) (*Results, error) {
	rows, err := csv.NewReader(rd).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("results.csv: empty")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range CSVHeader {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("results.csv: no column %q", h)
		}
	}
	r := &Results{}
	for n, row := range rows[1:] {
		var err error
		get := func(h string) string { return row[col[h]] }
		num := func(h string) float64 {
			if get(h) == "" {
				return math.NaN()
			}
			v, e := strconv.ParseFloat(get(h), 64)
			if e != nil {
				err = errors.Join(err, fmt.Errorf("%s: %w", h, e))
			}
			return v
		}
		integer := func(h string) int {
			v, e := strconv.Atoi(get(h))
			if e != nil {
				err = errors.Join(err, fmt.Errorf("%s: %w", h, e))
			}
			return v
		}
		p := Point{Kind: get("kind"), Name: get("name"), Provider: get("provider"), Dir: get("dir"),
			Servers: integer("servers"), Clients: integer("clients"), Cache: get("cache"), RegCache: get("regcache"),
			Pin: get("pin") == "true", DataPath: get("data_path"), Residency: get("residency"), Note: get("note"), Err: get("error")}
		p.Size = int64(num("size_bytes"))
		p.GBs = Summary{N: integer("reps"), Median: num("median_gbs"), Min: num("min_gbs"), Max: num("max_gbs"), Q1: num("q1_gbs"), Q3: num("q3_gbs")}
		p.PrepUs = Summary{Median: num("prep_us_median"), Min: num("prep_us_min"), Max: num("prep_us_max"), Q1: math.NaN(), Q3: math.NaN()}
		if !math.IsNaN(p.PrepUs.Median) {
			p.PrepUs.N = p.GBs.N
		}
		if p.Wall = num("wall_s"); math.IsNaN(p.Wall) {
			p.Wall = 0
		}
		if err != nil {
			return nil, fmt.Errorf("results.csv row %d: %w", n+2, err)
		}
		if p.Kind == KindFerry && p.Name == "sockets" && get("limit") != "" {
			r.SocketsLimit = get("limit")
		}
		r.Points = append(r.Points, p)
	}
	return r, nil
}

// Group is the fixed dimensions of one headline table or plot.
type Group struct {
	Servers, Clients int
	Cache, RegCache  string
}

func (g Group) String() string {
	return fmt.Sprintf("%d servers, %d client(s), %s page cache, client regcache %s", g.Servers, g.Clients, g.Cache, g.RegCache)
}

// Groups lists the groups of the Ferry points, in order of appearance.
func (r *Results) Groups() []Group {
	seen := map[Group]bool{}
	var out []Group
	for _, p := range r.Points {
		if p.Kind != KindFerry {
			continue
		}
		g := Group{p.Servers, p.Clients, p.Cache, p.RegCache}
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// Series is one line of a headline table or plot: a strategy on a provider.
type Series struct{ Name, Provider string }

func (s Series) String() string {
	if s.Name == "sockets" {
		return "sockets (no fabric)" // TCP, or the Unix socket for a local client
	}
	return s.Name + " / " + s.Provider
}

// Series lists the series of the Ferry points, sockets first, then by provider.
func (r *Results) Series() []Series {
	seen := map[Series]bool{}
	var out []Series
	for _, p := range r.Points {
		if p.Kind == KindFerry && !seen[Series{p.Name, p.Provider}] {
			seen[Series{p.Name, p.Provider}] = true
			out = append(out, Series{p.Name, p.Provider})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Name == "sockets") != (out[j].Name == "sockets") {
			return out[i].Name == "sockets"
		}
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return false
	})
	return out
}

// Sizes lists the request sizes of the points of kind, ascending.
func (r *Results) Sizes(kind string) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, p := range r.Points {
		if p.Kind == kind && !seen[p.Size] {
			seen[p.Size] = true
			out = append(out, p.Size)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Find returns the Ferry point of series s in group g for dir and size.
func (r *Results) Find(g Group, s Series, dir string, size int64) (Point, bool) {
	for _, p := range r.Points {
		if p.Kind == KindFerry && p.Name == s.Name && p.Provider == s.Provider && p.Dir == dir && p.Size == size &&
			p.Servers == g.Servers && p.Clients == g.Clients && p.Cache == g.Cache && p.RegCache == g.RegCache {
			return p, true
		}
	}
	return Point{}, false
}

// HeadlineTable writes, for one group, a table with one row per strategy
// and provider and one column per direction and request size: median GB/s
// and its ratio to memcpy and to the transport's limit.
func HeadlineTable(w io.Writer, r *Results, g Group) {
	sizes := r.Sizes(KindFerry)
	dirs := []string{}
	for _, d := range []string{"read", "write"} {
		for _, p := range r.Points {
			if p.Kind == KindFerry && p.Dir == d {
				dirs = append(dirs, d)
				break
			}
		}
	}
	fmt.Fprintf(w, "| strategy / provider |")
	for _, d := range dirs {
		for _, s := range sizes {
			fmt.Fprintf(w, " %s %s |", d, units.Bytes(s))
		}
	}
	fmt.Fprintf(w, "\n|---|")
	for range dirs {
		for range sizes {
			fmt.Fprintf(w, "---:|")
		}
	}
	fmt.Fprintln(w)
	for _, s := range r.Series() {
		fmt.Fprintf(w, "| %s |", s)
		for _, d := range dirs {
			for _, z := range sizes {
				p, ok := r.Find(g, s, d, z)
				switch {
				case !ok:
					fmt.Fprintf(w, " |")
				case p.Err != "":
					fmt.Fprintf(w, " failed |")
				default:
					q := r.RatiosOf(p)
					fmt.Fprintf(w, " %s (%s·mc, %s·lim) |", dash(p.GBs.Median, 2), dash(q.Memcpy, 2), dash(q.Limit, 2))
				}
			}
		}
		fmt.Fprintln(w)
	}
	// Baselines as rows too, so the limits sit beside the figures.
	type brow struct{ label, name, prov, dir string }
	var brows []brow
	brows = append(brows, brow{"memcpy (1 thread)", BaseMemcpy, "", ""}, brow{"local pread (page cache)", BasePread, "", ""})
	provs := map[string]bool{}
	for _, p := range r.Points {
		if p.Kind == KindBaseline && p.Name == BaseFabric && !provs[p.Provider] {
			provs[p.Provider] = true
			brows = append(brows, brow{"raw fi_write " + p.Provider + " (limit of reads)", BaseFabric, p.Provider, ""})
		}
	}
	for _, p := range r.Points {
		if p.Kind == KindBaseline && p.Name == BaseFabricRead && !provs[p.Provider+"/r"] {
			provs[p.Provider+"/r"] = true
			brows = append(brows, brow{"raw fi_read " + p.Provider + " (limit of writes)", BaseFabricRead, p.Provider, ""})
		}
	}
	brows = append(brows, brow{"TCP loopback stream", BaseTCP, "", ""}, brow{"Unix stream socket", BaseUnix, "", ""})
	for _, b := range brows {
		fmt.Fprintf(w, "| *%s* |", b.label)
		for range dirs {
			for _, z := range sizes {
				fmt.Fprintf(w, " *%s* |", dash(r.Baseline(b.name, b.prov, z), 2))
			}
		}
		fmt.Fprintln(w)
	}
}

// WriteMarkdown writes the report: machine, setup, headline tables,
// details, baselines, registration cost, plots.
func WriteMarkdown(w io.Writer, r *Results, plots []string) {
	fmt.Fprintf(w, "# Ferry benchmark results (%s mode)\n\n", r.Mode)
	fmt.Fprintf(w, "## Machine\n\n| | |\n|---|---|\n")
	for _, l := range r.Machine.Lines() {
		fmt.Fprintf(w, "| %s | %s |\n", l[0], l[1])
	}
	fmt.Fprintf(w, "\n## Setup\n\n")
	for _, s := range r.Setup {
		fmt.Fprintf(w, "- %s\n", s)
	}
	fmt.Fprintf(w, "\nAll figures are GB/s (10⁹ bytes/s), median of the repetitions. `·mc` is the ratio to a single-thread memcpy of the same request size; `·lim` the ratio to the transport's own limit at that size (for the RDMA strategies the raw `fi_write` of the provider for reads and raw `fi_read` for writes, as the server moves a write's bytes with `fi_read` from the client's buffer; for sockets one stream socket: %s). Baselines (italic rows) were measured in the same run. %s Other load on the machine moves every figure: compare figures within this run only.\n\n", socketsLimitText(r), r.Machine.Summary())
	for _, g := range r.Groups() {
		fmt.Fprintf(w, "## Headline: %s\n\n", g)
		HeadlineTable(w, r, g)
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "## Every Ferry point\n\n")
	fmt.Fprintf(w, "| dir | size | strategy | provider | servers | clients | cache | regcache | GB/s | min–max | IQR | ·memcpy | ·limit | ·pread | data path | residency | notes |\n")
	fmt.Fprintf(w, "|---|---:|---|---|---:|---:|---|---|---:|---|---|---:|---:|---:|---|---|---|\n")
	for _, p := range r.Points {
		if p.Kind != KindFerry {
			continue
		}
		if p.Err != "" {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %d | %s | %s | failed | | | | | | | | %s |\n", p.Dir, units.Bytes(p.Size), p.Name, p.Provider, p.Servers, p.Clients, p.Cache, p.RegCache, mdEscape(p.Err))
			continue
		}
		q := r.RatiosOf(p)
		pr := ""
		if p.Dir == "read" {
			pr = fnum(q.Pread, 2)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %d | %s | %s | %s | %s–%s | %s–%s | %s | %s | %s | %s | %s | %s |\n",
			p.Dir, units.Bytes(p.Size), p.Name, p.Provider, p.Servers, p.Clients, p.Cache, p.RegCache,
			fnum(p.GBs.Median, 2), fnum(p.GBs.Min, 2), fnum(p.GBs.Max, 2), fnum(p.GBs.Q1, 2), fnum(p.GBs.Q3, 2),
			fnum(q.Memcpy, 2), fnum(q.Limit, 2), pr, mdEscape(p.DataPath), p.Residency, mdEscape(p.Note))
	}

	fmt.Fprintf(w, "\n## Baselines\n\n| baseline | provider | size | GB/s | min–max | ·memcpy | notes |\n|---|---|---:|---:|---|---:|---|\n")
	for _, p := range r.Points {
		if p.Kind != KindBaseline {
			continue
		}
		if p.Err != "" {
			fmt.Fprintf(w, "| %s | %s | %s | failed | | | %s |\n", p.Name, p.Provider, units.Bytes(p.Size), mdEscape(p.Err))
			continue
		}
		mc := ""
		if p.Name != BaseMemcpy {
			mc = fnum(ratio(p.GBs.Median, r.Baseline(BaseMemcpy, "", p.Size)), 2)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s–%s | %s | %s |\n", p.Name, p.Provider, units.Bytes(p.Size), fnum(p.GBs.Median, 2), fnum(p.GBs.Min, 2), fnum(p.GBs.Max, 2), mc, mdEscape(p.Note))
	}

	var rc []Point
	for _, p := range r.Points {
		if p.Kind == KindRegCost {
			rc = append(rc, p)
		}
	}
	for _, pin := range []bool{false, true} {
		var sub []Point
		for _, p := range rc {
			if p.Pin == pin {
				sub = append(sub, p)
			}
		}
		if len(sub) > 0 {
			regCostTable(w, sub, pin)
		}
	}
	if len(plots) > 0 {
		fmt.Fprintf(w, "\n## Plots\n\n")
		for _, n := range plots {
			fmt.Fprintf(w, "![%s](%s)\n\n", n, n)
		}
	}
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// DefaultGroup is the group a summary and the plots show: one client, warm
// cache, the most servers, the first registration-cache setting.
func DefaultGroup(r *Results) (Group, bool) {
	gs := r.Groups()
	if len(gs) == 0 {
		return Group{}, false
	}
	score := func(g Group) int {
		s := g.Servers
		if g.Clients == 1 {
			s += 1000
		}
		if g.Cache == "warm" {
			s += 100
		}
		return s
	}
	best := gs[0]
	for _, g := range gs[1:] {
		if score(g) > score(best) {
			best = g
		}
	}
	return best, true
}

func regCostTable(w io.Writer, rc []Point, pin bool) {
	fmt.Fprintf(w, "\n## Registration cost (%s, %s)\n\n", rc[0].Provider, map[bool]string{
		true:  "pages PINNED with mlock at registration and munlock at deregistration, emulating what NIC drivers do; the providers here do not pin by themselves",
		false: "no pinning: the providers on this machine do not pin pages, so registration is nearly free here; `--pin` adds a pass with the cost structure of real NICs",
	}[pin])
	fmt.Fprintf(w, "Each request: make a user buffer (cycling through a working set larger than the CPU caches) RMA-able, then `fi_write` it to a peer endpoint (one in flight). `per-request` registers and deregisters every time; `regcache` goes through the registration cache (after one untimed warm-up pass, so this is its steady state on a reused working set); `bounce` copies into a buffer registered once. `prep µs` is the time per request spent on registration, cache lookup or copy.\n\n")
	fmt.Fprintf(w, "| size | method | GB/s | min–max | prep µs/request | notes |\n|---:|---|---:|---|---:|---|\n")
	for _, p := range rc {
		if p.Err != "" {
			fmt.Fprintf(w, "| %s | %s | failed | | | %s |\n", units.Bytes(p.Size), p.Name, mdEscape(p.Err))
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s–%s | %s | %s |\n", units.Bytes(p.Size), p.Name, fnum(p.GBs.Median, 2), fnum(p.GBs.Min, 2), fnum(p.GBs.Max, 2), fnum(p.PrepUs.Median, 1), mdEscape(p.Note))
	}
}

// socketsLimitText says which stream the sockets points' ·lim is against.
func socketsLimitText(r *Results) string {
	if r.SocketsLimit == BaseUnix {
		return "a Unix stream socket, as the client's connections to the bench's own servers are"
	}
	return "a loopback TCP stream (with servers named by a configuration, the client may reach them over TCP)"
}
