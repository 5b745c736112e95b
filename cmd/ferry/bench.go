package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/bench"
	"github.com/ferry-hpc/ferry/internal/localcluster"
	"github.com/ferry-hpc/ferry/internal/units"
)

func init() { addCommand(newBenchCmd) }

func newBenchCmd(e *env) *cobra.Command {
	cmd := newCommand("bench [flags]", "benchmark strategies, providers and baselines; write CSV, Markdown and plots", `Starts its own local ferryd servers (or uses --config), sweeps the data path
(strategy x provider x direction x request size x servers x clients x page
cache x registration cache), measures the baselines in the same run (memcpy,
local pread, raw fabric write, TCP loopback, a Unix stream socket) and the
registration-cost experiment, and writes results.csv and results.md into
--out, with PNG plots drawn by the ferry-plot program when it is beside
ferry or on PATH. The sockets points' limit (·lim) is the Unix stream with
the bench's own servers (the client reaches them on their Unix sockets),
the TCP stream with --config.

--quick (the default): 256 MiB file on 4 servers, 1 client, 64K/1M/16M,
warm cache, a few minutes. --full: every
dimension (8 sizes 4K..64M x 9 strategy/provider series x 2 directions x
1,2,4 servers x 1,2,4,8 clients x warm,cold x regcache on,off: thousands of
points, hours); narrow it with the flags below, which override single
dimensions of either mode (comma-separated lists).`, 0, 0, nil)
	var f benchFlags
	fs := cmd.Flags()
	fs.BoolVar(&f.quick, "quick", false, "quick mode (default when --full is not given)")
	fs.BoolVar(&f.full, "full", false, "full sweep")
	fs.StringVar(&f.out, "out", "", "results directory (default bench/results/<UTC timestamp>)")
	fs.StringVar(&f.cfg, "config", "", "use the servers of this running configuration instead of starting local ones")
	fs.StringVar(&f.strategies, "strategies", "", "strategies: sockets,copy,pipeline,sendfile,auto")
	fs.StringVar(&f.providers, "providers", "", "fabric providers for the RDMA strategies: shm,tcp")
	fs.StringVar(&f.dirs, "dirs", "", "directions: read,write")
	fs.StringVar(&f.sizes, "sizes", "", "request sizes, e.g. 4K,64K,1M,16M,64M")
	fs.StringVar(&f.servers, "servers", "", "server counts, e.g. 1,2,4")
	fs.StringVar(&f.clients, "clients", "", "client process counts, e.g. 1,2,4,8")
	fs.StringVar(&f.caches, "cache", "", "page cache states: warm,cold")
	fs.StringVar(&f.regcaches, "regcache", "", "client registration cache: on,off")
	fs.StringVar(&f.fileSize, "file-size", "", "bench file size (e.g. 256M, 1G)")
	fs.StringVar(&f.volume, "volume", "", "bytes each client moves per repetition (e.g. 64M)")
	fs.IntVar(&f.reps, "reps", 0, "repetitions per point")
	fs.BoolVar(&f.pin, "pin", false, "registration-cost experiment: add a pass that mlocks registered pages (munlock at deregistration), as NIC drivers pin them")
	fs.BoolVar(&f.noBase, "no-baselines", false, "skip the baselines")
	fs.BoolVar(&f.noReg, "no-regcost", false, "skip the registration-cost experiment")
	fs.BoolVar(&f.noPlots, "no-plots", false, "skip the PNG plots")
	fs.BoolVar(&f.headline, "headline", false, "only the data path's headline case: a page-cache-warm 1 GiB file on 4 servers read and written by one client with the default settings (reads local, and again by RMA with local reads off), against dd-like local reads, the sockets strategy, a TCP ping-pong, the C libfabric baseline; server CPU per GiB, an idle server, a fresh process's first ping; Markdown to stdout")
	fs.BoolVar(&f.worker, "client-worker", false, "internal: run as a client worker process")
	fs.StringVar(&f.spec, "worker-spec", "", "internal: the worker's spec (JSON)")
	fs.MarkHidden("client-worker")
	fs.MarkHidden("worker-spec")
	cmd.RunE = func(*cobra.Command, []string) error { return runBench(e, &f) }
	return cmd
}

type benchFlags struct {
	quick, full                                                    bool
	out, cfg, strategies, providers, dirs, sizes, servers, clients string
	caches, regcaches, fileSize, volume                            string
	reps                                                           int
	pin, noBase, noReg, noPlots, headline, worker                  bool
	spec                                                           string
}

func runBench(e *env, f *benchFlags) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.worker {
		return bench.RunWorker(ctx, f.cfg, f.spec, os.Stdin, e.stdout)
	}
	if f.quick && f.full {
		return usageError{fmt.Errorf("--quick and --full exclude each other")}
	}
	if f.headline {
		return runHeadline(ctx, e, f.fileSize, f.reps)
	}
	o := bench.QuickOptions()
	if f.full {
		o = bench.FullOptions()
	}
	custom := false
	list := func(s string, dst *[]string) {
		if s != "" {
			*dst, custom = splitList(s), true
		}
	}
	list(f.strategies, &o.Strategies)
	list(f.providers, &o.Providers)
	list(f.dirs, &o.Dirs)
	list(f.caches, &o.Caches)
	list(f.regcaches, &o.RegCaches)
	var err error
	if f.sizes != "" {
		o.Sizes, custom = nil, true
		for _, s := range splitList(f.sizes) {
			v, err := units.Parse(s)
			if err != nil {
				return usageError{err}
			}
			o.Sizes = append(o.Sizes, v)
		}
	}
	ints := func(s string, dst *[]int) error {
		if s == "" {
			return nil
		}
		*dst, custom = nil, true
		for _, f := range splitList(s) {
			v, err := strconv.Atoi(f)
			if err != nil || v < 1 {
				return usageError{fmt.Errorf("bad count %q", f)}
			}
			*dst = append(*dst, v)
		}
		return nil
	}
	if err := ints(f.servers, &o.ServerCounts); err != nil {
		return err
	}
	if err := ints(f.clients, &o.ClientCounts); err != nil {
		return err
	}
	if f.fileSize != "" {
		if o.FileSize, err = units.Parse(f.fileSize); err != nil {
			return usageError{err}
		}
		custom = true
	}
	if f.volume != "" {
		if o.Volume, err = units.Parse(f.volume); err != nil {
			return usageError{err}
		}
		custom = true
	}
	if f.reps > 0 {
		o.Reps, custom = f.reps, true
	}
	if custom {
		o.Mode += "+custom"
	}
	o.Pin = f.pin
	o.Baselines = !f.noBase
	o.RegCost = !f.noReg
	o.Plots = !f.noPlots
	o.Config = f.cfg
	o.Out = f.out
	if o.Out == "" {
		o.Out = filepath.Join("bench", "results", time.Now().UTC().Format("20060102T150405Z"))
	}
	if self, err := os.Executable(); err == nil {
		o.Self = self
	}
	o.Log = e.stderr
	res, err := bench.Run(ctx, o)
	if res != nil {
		if g, ok := bench.DefaultGroup(res); ok {
			fmt.Fprintf(e.stdout, "\nHeadline (%s): GB/s (·mc = × memcpy, ·lim = × raw fi_write (reads) or fi_read (writes) of the provider, or a stream socket (sockets): %s)\n\n", g, res.SocketsLimit)
			bench.HeadlineTable(e.stdout, res, g)
		}
		fmt.Fprintf(e.stdout, "\nresults: %s (results.md, results.csv, plots)\n", o.Out)
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// runHeadline runs bench.RunHeadline with the programs beside this one.
func runHeadline(ctx context.Context, e *env, fileSize string, reps int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ferryd, err := localcluster.FindProgram(self, "ferryd")
	if err != nil {
		return err
	}
	o := bench.HeadlineOptions{Ferryd: ferryd, Ferry: self, Reps: reps, Out: e.stdout}
	if fibw, err := localcluster.FindProgram(self, "ferry-fi-bw"); err == nil {
		o.FiBw = fibw
	}
	if fileSize != "" {
		if o.FileSize, err = units.Parse(fileSize); err != nil {
			return usageError{err}
		}
	}
	// Storage on the disk the build is on (not tmpfs), as a user's would be.
	if wd, err := os.Getwd(); err == nil {
		o.Dir = filepath.Join(wd, "build")
		os.MkdirAll(o.Dir, 0o755)
	}
	return bench.RunHeadline(ctx, o)
}
