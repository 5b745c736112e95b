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

	"github.com/ferry-hpc/ferry/bench"
	"github.com/ferry-hpc/ferry/internal/localcluster"
	"github.com/ferry-hpc/ferry/internal/units"
)

func init() {
	register("bench", "benchmark strategies, providers and baselines; write CSV, Markdown and plots", runBench)
}

func runBench(e *env, args []string) error {
	fs := newFlags(e, "bench", "", `Starts its own local ferryd servers (or uses --config), sweeps the data path
(strategy x provider x direction x request size x servers x clients x page
cache x registration cache), measures the baselines in the same run (memcpy,
local pread, raw fabric write, TCP loopback) and the registration-cost
experiment, and writes results.csv and results.md into --out, with PNG plots
drawn by the ferry-plot program when it is beside ferry or on PATH.

--quick (the default): 256 MiB file on 4 servers, 1 client, 64K/1M/16M,
warm cache, a few minutes. --full: every
dimension (8 sizes 4K..64M x 9 strategy/provider series x 2 directions x
1,2,4 servers x 1,2,4,8 clients x warm,cold x regcache on,off: thousands of
points, hours); narrow it with the flags below, which override single
dimensions of either mode (comma-separated lists).`)
	quick := fs.Bool("quick", false, "quick mode (default when --full is not given)")
	full := fs.Bool("full", false, "full sweep")
	out := fs.String("out", "", "results directory (default bench/results/<UTC timestamp>)")
	cfg := fs.String("config", "", "use the servers of this running configuration instead of starting local ones")
	strategies := fs.String("strategies", "", "strategies: sockets,copy,pipeline,sendfile,auto")
	providers := fs.String("providers", "", "fabric providers for the RDMA strategies: shm,tcp")
	dirs := fs.String("dirs", "", "directions: read,write")
	sizes := fs.String("sizes", "", "request sizes, e.g. 4K,64K,1M,16M,64M")
	servers := fs.String("servers", "", "server counts, e.g. 1,2,4")
	clients := fs.String("clients", "", "client process counts, e.g. 1,2,4,8")
	caches := fs.String("cache", "", "page cache states: warm,cold")
	regcaches := fs.String("regcache", "", "client registration cache: on,off")
	fileSize := fs.String("file-size", "", "bench file size (e.g. 256M, 1G)")
	volume := fs.String("volume", "", "bytes each client moves per repetition (e.g. 64M)")
	reps := fs.Int("reps", 0, "repetitions per point")
	pin := fs.Bool("pin", false, "registration-cost experiment: add a pass that mlocks registered pages (munlock at deregistration), as NIC drivers pin them")
	noBase := fs.Bool("no-baselines", false, "skip the baselines")
	noReg := fs.Bool("no-regcost", false, "skip the registration-cost experiment")
	noPlots := fs.Bool("no-plots", false, "skip the PNG plots")
	headline := fs.Bool("headline", false, "only the data path's headline case: a page-cache-warm 1 GiB file on 4 servers read and written by one client with the default settings, against dd-like local reads, the sockets strategy, a TCP ping-pong, the C libfabric baseline; server CPU per GiB, an idle server, a fresh process's first ping; Markdown to stdout")
	worker := fs.Bool("client-worker", false, "internal: run as a client worker process")
	spec := fs.String("worker-spec", "", "internal: the worker's spec (JSON)")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *worker {
		return bench.RunWorker(ctx, *cfg, *spec, os.Stdin, e.stdout)
	}
	if *quick && *full {
		return usageError{fmt.Errorf("--quick and --full exclude each other")}
	}
	if *headline {
		return runHeadline(ctx, e, *fileSize, *reps)
	}
	o := bench.QuickOptions()
	if *full {
		o = bench.FullOptions()
	}
	custom := false
	list := func(s string, dst *[]string) {
		if s != "" {
			*dst, custom = splitList(s), true
		}
	}
	list(*strategies, &o.Strategies)
	list(*providers, &o.Providers)
	list(*dirs, &o.Dirs)
	list(*caches, &o.Caches)
	list(*regcaches, &o.RegCaches)
	var err error
	if *sizes != "" {
		o.Sizes, custom = nil, true
		for _, s := range splitList(*sizes) {
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
	if err := ints(*servers, &o.ServerCounts); err != nil {
		return err
	}
	if err := ints(*clients, &o.ClientCounts); err != nil {
		return err
	}
	if *fileSize != "" {
		if o.FileSize, err = units.Parse(*fileSize); err != nil {
			return usageError{err}
		}
		custom = true
	}
	if *volume != "" {
		if o.Volume, err = units.Parse(*volume); err != nil {
			return usageError{err}
		}
		custom = true
	}
	if *reps > 0 {
		o.Reps, custom = *reps, true
	}
	if custom {
		o.Mode += "+custom"
	}
	o.Pin = *pin
	o.Baselines = !*noBase
	o.RegCost = !*noReg
	o.Plots = !*noPlots
	o.Config = *cfg
	o.Out = *out
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
			fmt.Fprintf(e.stdout, "\nHeadline (%s): GB/s (·mc = × memcpy, ·lim = × raw fi_write (reads) or fi_read (writes) of the provider, or TCP loopback (sockets))\n\n", g)
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
