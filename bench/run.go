// Package bench is Ferry's benchmark harness (`ferry bench`): it starts
// real ferryd servers (or uses a running configuration), sweeps strategy,
// provider, direction, request size, server and client counts, page-cache
// state and registration caching, measures the baselines every figure is
// compared with (memcpy, local pread, raw fabric write, TCP loopback) in
// the same run, runs the registration-cost experiment, and writes CSV, a
// Markdown report and PNG plots.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/localcluster"
	"github.com/ferry-hpc/ferry/internal/units"
	"github.com/ferry-hpc/ferry/proto"
)

// Options select a sweep.
type Options struct {
	Mode   string // quick, full or custom (a label for the report)
	Out    string // results directory
	Config string // use the servers of this running configuration instead of starting some
	Self   string // the ferry executable: runs client workers, finds ferryd beside it
	Ferryd string // ferryd to start (default: beside Self, then PATH)

	Strategies   []string // client-requested strategies; "sockets" is measured once, without a provider
	Providers    []string // fabric providers for the RDMA strategies
	Dirs         []string // read, write
	Sizes        []int64  // request sizes
	ServerCounts []int
	ClientCounts []int
	Caches       []string // warm, cold
	RegCaches    []string // on, off

	FileSize  int64 // bytes of the striped bench file
	StripSize int64
	Reps      int           // repetitions per point
	MaxReqs   int           // at most this many requests per client per repetition of a Ferry point (0: no limit)
	MinReps   int           // with a budget: repetitions always run (default 3)
	Budget    time.Duration // per point: stop repeating after this much time once MinReps are done (0: no limit)
	Volume    int64         // bytes one client moves per repetition (whole requests, at least two)

	Baselines       bool
	RegCost         bool
	Pin             bool // registration-cost experiment: mlock registered pages, as NIC drivers pin them
	RegCostProvider string
	Plots           bool
	Plotter         string // the ferry-plot program (default: beside Self, then PATH)

	BufBytes int64     // size of the cycling buffers (default: see span)
	TempDir  string    // where the bench's own servers keep their storage (default: system temp)
	Log      io.Writer // progress (default: discard)
}

// QuickOptions is `ferry bench --quick`: a 256 MiB striped file on 4 local
// servers, one client, 64 KiB, 1 MiB and 16 MiB requests, every strategy on
// each provider plus sockets, read and write, warm page cache, baselines
// and the registration-cost experiment.
func QuickOptions() Options {
	return Options{
		Mode:            "quick",
		Strategies:      []string{"sockets", "copy", "pipeline", "sendfile", "auto"},
		Providers:       []string{"shm", "tcp;ofi_rxm"},
		Dirs:            []string{"read", "write"},
		Sizes:           []int64{64 << 10, 1 << 20, 16 << 20},
		ServerCounts:    []int{4},
		ClientCounts:    []int{1},
		Caches:          []string{"warm"},
		RegCaches:       []string{"on"},
		FileSize:        256 << 20,
		StripSize:       1 << 20,
		Reps:            5,
		Volume:          64 << 20,
		MaxReqs:         128,
		MinReps:         3,
		Budget:          time.Second,
		Baselines:       true,
		RegCost:         true,
		RegCostProvider: "shm",
		Plots:           true,
	}
}

// FullOptions is `ferry bench --full`: every dimension of the issue.
func FullOptions() Options {
	o := QuickOptions()
	o.Mode = "full"
	o.Sizes = []int64{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20}
	o.ServerCounts = []int{1, 2, 4}
	o.ClientCounts = []int{1, 2, 4, 8}
	o.Caches = []string{"warm", "cold"}
	o.RegCaches = []string{"on", "off"}
	o.FileSize = 1 << 30
	o.Volume = 256 << 20
	o.Reps = 5
	o.MaxReqs = 1024
	o.Budget = 10 * time.Second
	return o
}

func (o *Options) check() error {
	if o.Reps < 1 {
		return errors.New("reps must be at least 1")
	}
	if o.FileSize <= 0 || o.StripSize <= 0 || o.Volume <= 0 {
		return errors.New("file size, strip size and volume must be positive")
	}
	for _, s := range o.Sizes {
		if s <= 0 || s > o.FileSize {
			return fmt.Errorf("request size %d outside (0, file size %d]", s, o.FileSize)
		}
	}
	for _, s := range o.Strategies {
		if err := proto.CheckStrategy(s); err != nil {
			return fmt.Errorf("strategies: %w", err)
		}
	}
	for _, d := range o.Dirs {
		if d != "read" && d != "write" {
			return fmt.Errorf("unknown direction %q (read, write)", d)
		}
	}
	for _, c := range o.Caches {
		if c != "warm" && c != "cold" {
			return fmt.Errorf("unknown cache state %q (warm, cold)", c)
		}
	}
	for _, c := range o.RegCaches {
		if c != "on" && c != "off" {
			return fmt.Errorf("unknown regcache value %q (on, off)", c)
		}
	}
	for i, p := range o.Providers {
		if p == "tcp" {
			o.Providers[i] = "tcp;ofi_rxm"
		}
	}
	if o.MinReps <= 0 || o.MinReps > o.Reps {
		o.MinReps = min(3, o.Reps)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// runner carries the state of one sweep.
type runner struct {
	o        Options
	res      *Results
	src, dst []byte // cycling buffers, larger than the CPU caches, touched before use
	logf     func(format string, a ...any)
}

// span is the size of the cycling buffers: at least 256 MiB (well above
// any L3 here), four requests, and eight times the L3.
func span(o Options, l3 int64) int64 {
	s := int64(256 << 20)
	for _, z := range o.Sizes {
		s = max(s, 4*z)
	}
	return max(s, 8*l3)
}

// Run runs the sweep and writes the results set into o.Out.
func Run(ctx context.Context, o Options) (*Results, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	r := &runner{o: o, res: &Results{Machine: DescribeMachine(), Mode: o.Mode, SocketsLimit: BaseUnix}}
	if o.Config != "" {
		r.res.SocketsLimit = BaseTCP // servers of a configuration may be on other hosts
	}
	r.logf = func(f string, a ...any) { fmt.Fprintf(o.Log, f+"\n", a...) }
	begin := time.Now()
	var err error
	sp := span(o, r.res.Machine.L3Bytes)
	if o.BufBytes > 0 {
		sp = max(o.BufBytes, 2*maxOf64(o.Sizes))
	}
	r.logf("bench: %s mode, cycling buffers of %s, results in %s", o.Mode, units.Bytes(sp), o.Out)
	if r.src, err = anonBuffer(int(sp)); err != nil {
		return nil, err
	}
	defer freeBuffer(r.src)
	if r.dst, err = anonBuffer(int(sp)); err != nil {
		return nil, err
	}
	defer freeBuffer(r.dst)
	for i := range r.src {
		r.src[i] = byte(i*7 + i>>13)
	}

	r.res.Setup = append(r.res.Setup,
		fmt.Sprintf("bench file %s striped over the servers (strip %s); each repetition of a Ferry point moves %s per client, but at most %d requests (at least 4 MiB and 2 requests), at sequential file offsets, cycling through a client buffer of max(64 MiB, 4 requests) that is reused (registration cache hits after one untimed warm-up pass for requests of 1 MiB and up); baselines cycle through %s buffers", units.Bytes(o.FileSize), units.Bytes(o.StripSize), units.Bytes(o.Volume), o.MaxReqs, units.Bytes(sp)),
		repsLine(o),
		"client: one process per client; requests split over the servers in parallel (clientlib defaults: 4 MiB max per request, 4 in flight per server); eager threshold 16 KiB on every provider (shm's default is 1 MiB), so that the strategies' points measure RDMA")

	var clusterErr error
	for i, n := range o.ServerCounts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.withCluster(ctx, n, i == 0); err != nil {
			clusterErr = errors.Join(clusterErr, fmt.Errorf("%d servers: %w", n, err))
			r.logf("bench: %d servers: %v", n, err)
		}
	}
	if o.RegCost {
		r.regCost(ctx)
	}
	r.res.Setup = append(r.res.Setup, fmt.Sprintf("whole run took %v", time.Since(begin).Round(time.Second)))
	r.res.Machine.LoadAvgEnd = loadAvg()
	plotter := ""
	if o.Plots {
		if plotter = o.Plotter; plotter == "" {
			if plotter, err = localcluster.FindProgram(o.Self, "ferry-plot"); err != nil {
				r.logf("bench: no plots: %v", err)
				r.res.Setup = append(r.res.Setup, "no plots: ferry-plot was not found beside ferry or on PATH (`ferry-plot DIR` draws them from DIR/results.csv)")
				plotter = ""
			}
		}
	}
	if err := Write(r.res, o.Out, plotter); err != nil {
		return r.res, err
	}
	return r.res, clusterErr
}

// withCluster starts (or connects to) n servers, writes the bench file,
// runs the baselines (first cluster only) and the Ferry points.
func (r *runner) withCluster(ctx context.Context, n int, first bool) error {
	o := r.o
	var cl *cluster
	var err error
	if o.Config != "" {
		if cl, err = useCluster(o.Config); err != nil {
			return err
		}
		if len(cl.cfg.Servers) != n {
			r.logf("bench: --config has %d servers; measuring those (not %d)", len(cl.cfg.Servers), n)
			n = len(cl.cfg.Servers)
		}
	} else {
		ferryd := o.Ferryd
		if ferryd == "" {
			if ferryd, err = localcluster.FindProgram(o.Self, "ferryd"); err != nil {
				return err
			}
		}
		r.logf("bench: starting %d ferryd servers (%s)", n, ferryd)
		if cl, err = startCluster(ctx, ferryd, n, o.StripSize, o.TempDir); err != nil {
			return err
		}
	}
	defer cl.stop()

	path := fmt.Sprintf("/ferry-bench-%d-%d", os.Getpid(), n)
	handle, err := r.makeFile(ctx, cl, path)
	if err != nil {
		return fmt.Errorf("write bench file: %w", err)
	}
	defer func() {
		c, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Provider: "none", Name: "ferry bench cleanup"})
		if err == nil {
			c.Remove(ctx, path)
			c.Close()
		}
	}()
	files := cl.datafiles(handle)
	if len(files) == 0 {
		r.logf("bench: datafiles not visible on this machine: no residency checks, no pread baseline, no cold cache")
	}
	if first && o.Baselines {
		r.baselines(ctx, files)
	}
	for _, clients := range o.ClientCounts {
		for _, cache := range o.Caches {
			if cache == "cold" && len(files) == 0 {
				continue
			}
			for _, rc := range o.RegCaches {
				for _, dir := range o.Dirs {
					for _, size := range o.Sizes {
						for _, strat := range o.Strategies {
							provs := o.Providers
							if strat == "sockets" {
								provs = []string{"-"}
							}
							for _, prov := range provs {
								if err := ctx.Err(); err != nil {
									return err
								}
								p := Point{Kind: KindFerry, Name: strat, Provider: prov, Dir: dir, Size: size,
									Servers: n, Clients: clients, Cache: cache, RegCache: rc}
								p = r.ferryPoint(ctx, cl, path, files, p)
								r.add(p)
							}
						}
					}
				}
			}
		}
	}
	return nil
}

func (r *runner) add(p Point) {
	r.res.Points = append(r.res.Points, p)
	if p.Err != "" {
		r.logf("  %-8s %-12s %-5s %5s s%d c%d %s rc=%s: ERROR %s", p.Name, p.Provider, p.Dir, units.Bytes(p.Size), p.Servers, p.Clients, p.Cache, p.RegCache, p.Err)
		return
	}
	if p.Kind == KindRegCost {
		r.logf("  regcost %-12s %-12s %5s pin=%v: %6.2f GB/s  %8.1f µs/request to prepare", p.Name, p.Provider, units.Bytes(p.Size), p.Pin, p.GBs.Median, p.PrepUs.Median)
		return
	}
	if p.Kind == KindBaseline {
		r.logf("  baseline %-12s %-12s %5s: %6.2f GB/s (%.2f-%.2f)", p.Name, p.Provider, units.Bytes(p.Size), p.GBs.Median, p.GBs.Min, p.GBs.Max)
		return
	}
	extra := ""
	if p.Kind == KindFerry {
		q := r.res.RatiosOf(p)
		extra = fmt.Sprintf("  x%s memcpy  x%s %s  [%s] %s", dash(q.Memcpy, 2), dash(q.Limit, 2), q.LimitName, p.DataPath, p.Note)
	}
	r.logf("  %-8s %-12s %-5s %5s s%d c%d %-4s: %6.2f GB/s (%.2f-%.2f, %d reps, %.1fs)%s", p.Name, p.Provider, p.Dir, units.Bytes(p.Size), p.Servers, p.Clients, p.Cache, p.GBs.Median, p.GBs.Min, p.GBs.Max, p.GBs.N, p.Wall, extra)
}

// makeFile creates the bench file and fills it with a pattern over
// sockets (the data path under test is not involved).
func (r *runner) makeFile(ctx context.Context, cl *cluster, path string) (string, error) {
	c, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Provider: "none", Name: "ferry bench setup"})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.Remove(ctx, path)
	f, err := c.Create(ctx, path, clientlib.CreateOptions{StripSize: r.o.StripSize})
	if err != nil {
		return "", err
	}
	chunk := int64(16 << 20)
	for off := int64(0); off < r.o.FileSize; off += chunk {
		n := min(chunk, r.o.FileSize-off)
		if _, err := f.WriteAtContext(ctx, r.src[off%int64(len(r.src)-int(chunk)):][:n], off); err != nil {
			return "", err
		}
	}
	return f.Handle(), nil
}

// spec of client i for point p.
func (r *runner) spec(p Point, path string, i int) clientSpec {
	s := clientSpec{Path: path, Strategy: p.Name, RegCache: p.RegCache, Dir: p.Dir, Size: p.Size,
		Volume: r.o.pointVolume(p.Size), FileSize: r.o.FileSize, Index: i, Clients: p.Clients, BufBytes: r.ring(p.Size)}
	s.Provider = p.Provider
	if p.Name == "sockets" {
		s.Provider = "none"
	}
	return s
}

func (r *runner) ferryPoint(ctx context.Context, cl *cluster, path string, files []string, p Point) (pt Point) {
	pointStart := time.Now()
	defer func() { pt.Wall = time.Since(pointStart).Seconds() }()
	o := r.o
	var notes []string
	// Observer: server counters before and after, via sockets.
	obs, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Provider: "none", Name: "ferry bench observer"})
	if err != nil {
		p.Err = err.Error()
		return p
	}
	defer obs.Close()

	var before float64 = math.NaN()
	if len(files) > 0 && p.Cache == "warm" {
		before = residency(files)
		if before < 0.999 {
			warmCache(files)
			notes = append(notes, fmt.Sprintf("page cache re-warmed (was %.0f%% resident)", 100*before))
			before = residency(files)
		}
	}

	// The clients.
	type runFn func() (int64, float64, error)
	var reps []runFn
	var cleanup []func()
	defer func() {
		for _, f := range cleanup {
			f()
		}
	}()
	if p.Clients <= 1 {
		buf := r.dst
		if p.Dir == "write" {
			buf = r.src
		}
		bc, err := openBenchClient(ctx, cl.cfgPath, r.spec(p, path, 0), buf[:r.ring(p.Size)])
		if err != nil {
			p.Err = err.Error()
			return p
		}
		cleanup = append(cleanup, bc.close)
		if _, _, err := bc.run(ctx, warmupBytes(r.ring(p.Size), p.Size)); err != nil { // first contact outside the timings
			p.Err = err.Error()
			return p
		}
		p.DataPath = bc.c.DataPath(0)
		rc0 := bc.c.RegCacheStats()
		defer func() {
			rc1 := bc.c.RegCacheStats()
			if h, m := rc1.Hits-rc0.Hits, rc1.Misses-rc0.Misses; h+m > 0 || rc1.Registrations > rc0.Registrations {
				pt.Note = strings.TrimPrefix(pt.Note+fmt.Sprintf("; client regcache %d hits, %d misses, %d registrations", h, m, rc1.Registrations-rc0.Registrations), "; ")
			}
		}()
		reps = append(reps, func() (int64, float64, error) {
			n, d, err := bc.run(ctx, repBytes(o.pointVolume(p.Size), p.Size))
			return n, d.Seconds(), err
		})
	} else {
		if o.Self == "" {
			p.Err = "several clients need the ferry executable (Options.Self) to spawn workers"
			return p
		}
		var ws []*worker
		for i := 0; i < p.Clients; i++ {
			w, dp, err := startWorker(ctx, o.Self, cl.cfgPath, r.spec(p, path, i))
			if err != nil {
				for _, w := range ws {
					w.stop()
				}
				p.Err = err.Error()
				return p
			}
			ws = append(ws, w)
			p.DataPath = dp
		}
		cleanup = append(cleanup, func() {
			for _, w := range ws {
				w.stop()
			}
		})
		// One function runs all workers at once and reports the
		// aggregate: total bytes over the slowest client's time.
		reps = append(reps, func() (int64, float64, error) {
			for _, w := range ws {
				if _, err := io.WriteString(w.in, "go\n"); err != nil {
					return 0, 0, err
				}
			}
			var total int64
			var slowest float64
			var errs error
			for i, w := range ws {
				line, err := w.out.ReadString('\n')
				if err != nil {
					return 0, 0, fmt.Errorf("client worker %d: %w", i, err)
				}
				var rr repResult
				if err := jsonUnmarshal(line, &rr); err != nil {
					return 0, 0, fmt.Errorf("client worker %d: %q: %w", i, line, err)
				}
				if rr.Err != "" {
					errs = errors.Join(errs, fmt.Errorf("client %d: %s", i, rr.Err))
				}
				total += rr.Bytes
				slowest = max(slowest, rr.Secs)
			}
			return total, slowest, errs
		})
	}
	if p.Name != "sockets" && !strings.HasPrefix(p.DataPath, "rdma:") {
		p.Err = "no RDMA data path: " + p.DataPath
		return p
	}

	st0 := statsSum(ctx, obs)
	var xs []float64
	var coldRes []float64
	t0 := time.Now()
	for i := 0; i < o.Reps && r.more(i, t0); i++ {
		if p.Cache == "cold" {
			if err := dropCache(files); err != nil {
				p.Err = err.Error()
				return p
			}
			coldRes = append(coldRes, residency(files))
		}
		n, secs, err := reps[0]()
		if err != nil {
			p.Err = err.Error()
			return p
		}
		xs = append(xs, float64(n)/secs/1e9)
	}
	st1 := statsSum(ctx, obs)
	p.GBs = Summarize(xs)
	if s := statsNote(st0, st1, p.Dir); s != "" {
		notes = append(notes, s)
	}
	if len(files) > 0 {
		after := residency(files)
		switch p.Cache {
		case "warm":
			p.Residency = fmt.Sprintf("%.0f%% → %.0f%%", 100*before, 100*after)
			if after < 0.99 {
				notes = append(notes, fmt.Sprintf("residency lost during the point (%.0f%% after)", 100*after))
			}
		case "cold":
			p.Residency = fmt.Sprintf("≤%.0f%% after drop → %.0f%%", 100*maxOf(coldRes), 100*after)
		}
	}
	if p.Dir == "write" {
		if p.Cache == "warm" {
			notes = append(notes, "writes overwrite resident pages")
		} else {
			notes = append(notes, "writes into evicted pages (page cache allocates fresh pages)")
		}
	}
	p.Note = strings.Join(notes, "; ")
	return p
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// more reports whether repetition i (0-based) of a point that started at
// t0 should run: always the first MinReps, then while within the budget.
func (r *runner) more(i int, t0 time.Time) bool {
	return i < r.o.MinReps || r.o.Budget <= 0 || time.Since(t0) < r.o.Budget
}

// baselines measures memcpy, local pread, raw fabric writes per provider
// and a TCP loopback and a Unix stream at every request size.
func (r *runner) baselines(ctx context.Context, files []string) {
	o := r.o
	r.logf("bench: baselines")
	for _, size := range o.Sizes {
		var xs []float64
		t0 := time.Now()
		for i := 0; i < o.Reps && r.more(i, t0); i++ {
			xs = append(xs, memcpyRun(r.dst, r.src, size, max(o.Volume, int64(len(r.src)))))
		}
		r.add(Point{Kind: KindBaseline, Name: BaseMemcpy, Provider: "-", Dir: "-", Size: size, Cache: "-", RegCache: "-", GBs: Summarize(xs),
			Note: "single thread, Go copy(), cycling through " + units.Bytes(int64(len(r.src)))})
	}
	if len(files) > 0 {
		for _, size := range o.Sizes {
			p := Point{Kind: KindBaseline, Name: BasePread, Provider: "-", Dir: "read", Size: size, Cache: "warm", RegCache: "-"}
			var xs []float64
			res := residency(files)
			if res < 0.999 {
				warmCache(files)
				p.Note = fmt.Sprintf("re-warmed (was %.0f%% resident); ", 100*res)
			}
			t0 := time.Now()
			for i := 0; i < o.Reps && r.more(i, t0); i++ {
				g, err := preadRun(files, r.dst, size, o.Volume)
				if err != nil {
					p.Err = err.Error()
					break
				}
				xs = append(xs, g)
			}
			p.GBs = Summarize(xs)
			p.Note += fmt.Sprintf("local pread of the bench file's datafiles, single thread; residency after %.0f%%", 100*residency(files))
			r.add(p)
		}
	}
	for _, prov := range o.Providers {
		fp, err := openFabricPair(prov, r.src, r.dst)
		for _, write := range []bool{true, false} {
			name, dir, what := BaseFabric, "write", "fi_write"
			if !write {
				name, dir, what = BaseFabricRead, "read", "fi_read"
			}
			for _, size := range o.Sizes {
				p := Point{Kind: KindBaseline, Name: name, Provider: prov, Dir: dir, Size: size, Cache: "-", RegCache: "-"}
				if err != nil {
					p.Err = err.Error()
					r.add(p)
					continue
				}
				// Each depth in turn; the better median is the limit.
				var best Summary
				bestDepth := 0
				var others []string
				for _, depth := range fabricDepths {
					var xs []float64
					// First contact (lazy connection setup) outside the timings.
					if _, err := fp.rmaRun(ctx, write, depth, size, 2*size); err != nil {
						p.Err = err.Error()
					}
					t0 := time.Now()
					for i := 0; i < o.Reps && p.Err == "" && r.more(i, t0); i++ {
						g, err := fp.rmaRun(ctx, write, depth, size, o.Volume)
						if err != nil {
							p.Err = err.Error()
							break
						}
						xs = append(xs, g)
					}
					sm := Summarize(xs)
					if bestDepth == 0 || sm.Median > best.Median {
						if bestDepth != 0 {
							others = append(others, fmt.Sprintf("%d in flight: %.2f GB/s", bestDepth, best.Median))
						}
						best, bestDepth = sm, depth
					} else {
						others = append(others, fmt.Sprintf("%d in flight: %.2f GB/s", depth, sm.Median))
					}
				}
				p.Note = fmt.Sprintf("%s between two endpoints of one process, regions registered once; best of %v in flight: %d (%s)", what, fabricDepths, bestDepth, strings.Join(others, ", "))
				p.GBs = best
				r.add(p)
			}
		}
		if err == nil {
			fp.close()
		}
	}
	for _, b := range []struct{ name, network, note string }{
		{BaseTCP, "tcp", "one TCP stream over 127.0.0.1"},
		{BaseUnix, "unix", "one Unix stream socket (a local client's control connection)"},
	} {
		for _, size := range o.Sizes {
			p := Point{Kind: KindBaseline, Name: b.name, Provider: "-", Dir: "-", Size: size, Cache: "-", RegCache: "-",
				Note: b.note + ", size-byte write() calls, reader io.ReadFull into its own buffer"}
			var xs []float64
			t0 := time.Now()
			for i := 0; i < o.Reps && r.more(i, t0); i++ {
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				g, err := streamRun(cctx, b.network, r.src, r.dst, size, o.Volume)
				cancel()
				if err != nil {
					p.Err = err.Error()
					break
				}
				xs = append(xs, g)
			}
			p.GBs = Summarize(xs)
			r.add(p)
		}
	}
}

// regCost runs the registration-cost experiment at every request size.
func (r *runner) regCost(ctx context.Context) {
	o := r.o
	prov := o.RegCostProvider
	if prov == "" {
		prov = "shm"
	}
	r.logf("bench: registration cost (%s; pinned pass too: %v)", prov, o.Pin)
	// The user buffer is separate memory (the registration cache watches
	// it); the peer's destination is r.dst.
	user, err := anonBuffer(len(r.src))
	if err != nil {
		r.add(Point{Kind: KindRegCost, Name: "all", Provider: prov, Err: err.Error()})
		return
	}
	defer freeBuffer(user)
	fp, err := openFabricPair(prov, r.src, r.dst)
	if err != nil {
		r.add(Point{Kind: KindRegCost, Name: "all", Provider: prov, Dir: "write", Err: err.Error()})
		return
	}
	defer fp.close()
	pins := []bool{false}
	if o.Pin {
		pins = append(pins, true)
	}
	for _, pin := range pins {
		for _, size := range o.Sizes {
			// The working set: at least 64 MiB (beyond the CPU caches), at
			// least two requests, at most the user buffer.
			ws := min(int64(len(user)), max(min(64<<20, int64(len(user))), 2*size))
			ws -= ws % size
			for _, m := range RegCostMethods {
				if ctx.Err() != nil {
					return
				}
				p := Point{Kind: KindRegCost, Name: m, Provider: prov, Dir: "write", Size: size, Cache: "-", RegCache: "-", Pin: pin}
				var g, us []float64
				var note string
				// First contact outside the timings.
				if _, err := regCostRun(ctx, fp, RegBounce, user[:ws], size, size, false, o.Log); err != nil {
					p.Err = err.Error()
				}
				t0 := time.Now()
				for i := 0; i < o.Reps && p.Err == "" && r.more(i, t0); i++ {
					res, err := regCostRun(ctx, fp, m, user[:ws], size, o.pointVolume(size), pin, o.Log)
					if err != nil {
						p.Err = err.Error()
						break
					}
					g = append(g, res.GBs)
					us = append(us, res.PrepUs)
					if res.CacheNote != "" {
						note = res.CacheNote
					}
				}
				p.GBs, p.PrepUs = Summarize(g), Summarize(us)
				p.Note = fmt.Sprintf("user working set %s; ", units.Bytes(ws)) + note
				r.add(p)
			}
		}
	}
}

func repsLine(o Options) string {
	s := fmt.Sprintf("%d repetitions per point", o.Reps)
	if o.Budget > 0 && o.MinReps < o.Reps {
		s = fmt.Sprintf("%d–%d repetitions per point (at least %d; more while the point has run less than %v)", o.MinReps, o.Reps, o.MinReps, o.Budget)
	}
	return s + "; figures are the median of the repetitions, spread min–max (and IQR in the detail table); GB/s = 1e9 bytes/s"
}

// pointVolume is the bytes one client moves per repetition of a Ferry
// point: the volume, but no more than MaxReqs requests (and at least 4
// MiB), so small requests do not take minutes.
func (o Options) pointVolume(size int64) int64 {
	if o.MaxReqs <= 0 {
		return o.Volume
	}
	return min(o.Volume, max(int64(o.MaxReqs)*size, 4<<20))
}

// ring is the client buffer a Ferry point cycles through: 64 MiB (twice
// the largest L3 of current server CPUs) or four requests, within the
// cycling buffers. The same buffers come round again, as in an application
// that reuses its I/O buffers, so the registration cache can hit.
func (r *runner) ring(size int64) int64 {
	n := min(int64(len(r.src)), max(64<<20, 4*size))
	return n - n%size
}

// warmupBytes is what a client moves before the timed repetitions: one
// pass over its ring for requests of 1 MiB and up (so the registration
// cache holds the ring), two requests below (a pass would take too long).
func warmupBytes(ring, size int64) int64 {
	if size >= 1<<20 {
		return ring
	}
	return 2 * size
}

func maxOf64(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
