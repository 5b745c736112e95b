package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/internal/units"
)

// The headline case's layout: 4 servers, strip 1 MiB.
const (
	headlineServers = 4
	headlineStrip   = 1 << 20
)

// HeadlineOptions configure the headline run: the data path's targets,
// measured as ratios against baselines in the same run.
type HeadlineOptions struct {
	Ferryd   string // the ferryd program
	Ferry    string // the ferry program (for the fresh-process ping)
	FiBw     string // the C libfabric baseline (ferry-fi-bw); "" skips it
	Dir      string // where servers keep their storage (a disk, not tmpfs)
	FileSize int64  // 1 GiB
	Reps     int    // repetitions per figure (median reported)
	Out      io.Writer
}

// headlineRow is one line of the table: a figure, its baseline, the
// ratio and the target.
type headlineRow struct {
	what, value, base, ratio, target string
	met                              string
}

// RunHeadline measures the headline case: a page-cache-warm file striped
// over 4 local servers (strip 1 MiB), one client reading it into one
// buffer with the default settings, against dd-like local reads and the
// sockets strategy; writes from a resident buffer; 4 KiB read latency
// against a TCP ping-pong; server CPU per GiB; an idle server's CPU; the
// first ping of a fresh process; the Go binding against C.
func RunHeadline(ctx context.Context, o HeadlineOptions) error {
	if o.Reps <= 0 {
		o.Reps = 5
	}
	if o.FileSize <= 0 {
		o.FileSize = 1 << 30
	}
	if o.FileSize < headlineServers*headlineStrip || o.FileSize%headlineStrip != 0 {
		return fmt.Errorf("headline file size %d: want a whole number of %s strips, at least one per server (%s)",
			o.FileSize, units.Bytes(headlineStrip), units.Bytes(headlineServers*headlineStrip))
	}
	w := o.Out
	load0 := loadAvg()
	cl, err := startCluster(ctx, o.Ferryd, headlineServers, headlineStrip, o.Dir)
	if err != nil {
		return err
	}
	defer cl.stop()
	pids := cl.own.Pids()
	mount := func(strategy string) (*clientlib.Client, error) {
		return clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Strategy: strategy, Timeout: 60 * time.Second})
	}
	def, err := mount("")
	if err != nil {
		return err
	}
	defer def.Close()
	// The default path with local reads off: every read is a request,
	// served by RMA (auto), as for a client on another host.
	rma, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Timeout: 60 * time.Second, LocalReads: clientlib.LocalReadsOff})
	if err != nil {
		return err
	}
	defer rma.Close()
	sock, err := mount("sockets")
	if err != nil {
		return err
	}
	defer sock.Close()
	// The read by RMA into a buffer in huge pages has a client of its
	// own, so the two 1 GiB buffers do not take turns in one registration
	// cache.
	defHuge, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Timeout: 60 * time.Second, LocalReads: clientlib.LocalReadsOff})
	if err != nil {
		return err
	}
	defer defHuge.Close()

	buf := make([]byte, o.FileSize)
	rand.Read(buf)
	f, err := def.Create(ctx, "/headline", clientlib.CreateOptions{})
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		return err
	}
	f.Close()
	// The local copy dd reads: same bytes, same file system as the servers.
	local := filepath.Join(cl.own.Dir, "local-copy")
	if err := os.WriteFile(local, buf, 0o600); err != nil {
		return err
	}
	files := append(cl.datafiles(fileHandle(ctx, def, "/headline")), local)

	// The same bytes in a buffer the application advised for transparent
	// huge pages before filling it (as a host whose THP setting is
	// "always" does for every large buffer): reported beside the default
	// read, which reads into buf, in 4 KiB pages where THP is "madvise".
	hugeBuf, err := unix.Mmap(-1, 0, int(o.FileSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("map a buffer: %w", err)
	}
	defer unix.Munmap(hugeBuf)
	hugeAdvised := unix.Madvise(hugeBuf, unix.MADV_HUGEPAGE) == nil
	copy(hugeBuf, buf)

	readAll := func(c *clientlib.Client, buf []byte) (time.Duration, error) {
		rf, err := c.Open(ctx, "/headline")
		if err != nil {
			return 0, err
		}
		defer rf.Close()
		start := time.Now()
		n, err := rf.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if int64(n) != o.FileSize {
			return 0, fmt.Errorf("read %d of %d bytes", n, o.FileSize)
		}
		return time.Since(start), nil
	}
	writeAll := func(c *clientlib.Client) (time.Duration, error) {
		wf, err := c.Open(ctx, "/headline")
		if err != nil {
			return 0, err
		}
		defer wf.Close()
		start := time.Now()
		if _, err := wf.WriteAt(buf, 0); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	ddRead := func() (time.Duration, error) {
		fd, err := os.Open(local)
		if err != nil {
			return 0, err
		}
		defer fd.Close()
		b := buf[:4<<20]
		start := time.Now()
		for {
			_, err := fd.Read(b)
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}

	// The kernel's copy alone, as shm's CMA path makes it: from a page-cache
	// mapping of the same bytes into the same buffer by process_vm_writev
	// in 1 MiB pieces, from one thread per CPU. No Ferry code runs: it is
	// the most the default read can reach here.
	lf, err := os.Open(local)
	if err != nil {
		return err
	}
	src, err := unix.Mmap(int(lf.Fd()), 0, int(o.FileSize), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	lf.Close()
	if err != nil {
		return fmt.Errorf("map %s: %w", local, err)
	}
	defer unix.Munmap(src)
	cmaThreads := runtime.NumCPU()
	cmaCopy := func() (time.Duration, error) {
		return kernelCopy(src, buf, cmaThreads)
	}

	type sample struct {
		d            time.Duration
		srvCPU, cCPU float64 // seconds
	}
	measure := func(run func() (time.Duration, error)) (sample, error) {
		s0, c0 := serverCPU(pids), selfCPU()
		d, err := run()
		return sample{d: d, srvCPU: serverCPU(pids) - s0, cCPU: selfCPU() - c0}, err
	}
	gib := float64(o.FileSize) / (1 << 30)
	var resLost []string
	series := map[string][]sample{}
	order := []struct {
		name string
		run  func() (time.Duration, error)
	}{
		{"dd", ddRead},
		{"cma", cmaCopy},
		{"read-default", func() (time.Duration, error) { return readAll(def, buf) }},
		{"read-rma", func() (time.Duration, error) { return readAll(rma, buf) }},
		{"read-sockets", func() (time.Duration, error) { return readAll(sock, buf) }},
		{"read-huge", func() (time.Duration, error) { return readAll(defHuge, hugeBuf) }},
		{"write-default", func() (time.Duration, error) { return writeAll(def) }},
		{"write-sockets", func() (time.Duration, error) { return writeAll(sock) }},
	}
	for r := 0; r < o.Reps; r++ {
		for _, x := range order {
			if strings.HasPrefix(x.name, "read") || x.name == "dd" || x.name == "cma" {
				if res := residency(files); res < 0.99 {
					resLost = append(resLost, fmt.Sprintf("%s rep %d: %.0f%% resident", x.name, r, 100*res))
					warm(files)
				}
			}
			s, err := measure(x.run)
			if err != nil {
				return fmt.Errorf("%s: %w", x.name, err)
			}
			series[x.name] = append(series[x.name], s)
		}
	}
	med := func(name string) (rate, srv, cli float64) {
		var rs, ss, cs []float64
		for _, s := range series[name] {
			rs = append(rs, float64(o.FileSize)/s.d.Seconds()/1e9)
			ss = append(ss, s.srvCPU/gib)
			cs = append(cs, s.cCPU/gib)
		}
		return median(rs), median(ss), median(cs)
	}
	ddR, _, _ := med("dd")
	cmaR, _, _ := med("cma")
	rdR, rdS, rdC := med("read-default")
	rrR, rrS, rrC := med("read-rma")
	rsR, rsS, rsC := med("read-sockets")
	rhR, rhS, rhC := med("read-huge")
	wdR, wdS, wdC := med("write-default")
	wsR, wsS, wsC := med("write-sockets")

	// The TCP baselines answer from other processes where the C program
	// is built (as servers do), else from goroutines of this one.
	pongWhat, pongsWhat := "process", "processes"
	pongProg := o.FiBw
	conns, stopPongs, err := pongs(ctx, pongProg, 4096, headlineServers)
	if err != nil && pongProg != "" {
		fmt.Fprintf(w, "TCP ping-pong with %s: %v; answering from this process instead\n", pongProg, err)
		pongProg = ""
		conns, stopPongs, err = pongs(ctx, pongProg, 4096, headlineServers)
	}
	if err != nil {
		return err
	}
	if pongProg == "" {
		pongWhat, pongsWhat = "goroutine of this process", "goroutines of this process"
	}
	lat, err := smallReadLatency(ctx, def, conns, 4096, 400*o.Reps, o.FileSize)
	if err != nil {
		stopPongs()
		return err
	}
	latRMA, err := smallReadLatency(ctx, rma, conns, 4096, 400*o.Reps, o.FileSize)
	stopPongs()
	if err != nil {
		return err
	}
	rtt1, err := tcpPingPong(ctx, 4096, 400*o.Reps)
	if err != nil {
		return err
	}
	fiRTT, fiErr := fiPingPong(ctx, "shm", 4096, 400*o.Reps)

	// What the default strategy (auto) served by, on each server.
	var choice []string
	for id := range pids {
		if st, err := def.ServerStats(ctx, id); err == nil {
			choice = append(choice, autoChoice(id, st))
		}
	}
	slices.Sort(choice)

	// An idle server: no client for a while. The first seconds after the
	// clients leave are not idle yet (connections closing, the Go
	// runtime collecting and returning the memory of the run), so the
	// measurement starts after them.
	def.Close()
	sock.Close()
	rma.Close()
	time.Sleep(3 * time.Second)
	s0 := serverCPU(pids)
	idleFor := 10 * time.Second
	time.Sleep(idleFor)
	idle := (serverCPU(pids) - s0) / float64(len(pids)) / idleFor.Seconds()

	var pings []float64
	for i := 0; i < o.Reps && o.Ferry != ""; i++ {
		start := time.Now()
		cmd := exec.CommandContext(ctx, o.Ferry, "ping", "--config", cl.cfgPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ferry ping: %v: %s", err, out)
		}
		pings = append(pings, time.Since(start).Seconds())
	}

	rows := []headlineRow{
		row("striped read, default (local reads)", rdR, "GB/s", "local read bs=4M (dd)", ddR, 0.8, true),
		row("striped read, default (local reads)", rdR, "GB/s", "sockets strategy", rsR, 2, true),
		row("striped read, by RMA (shm, local reads off)", rrR, "GB/s", "local read bs=4M (dd)", ddR, 0.8, true),
		row("striped read, by RMA (shm, local reads off)", rrR, "GB/s", "sockets strategy", rsR, 2, true),
		row("striped write from a resident buffer, default", wdR, "GB/s", "sockets strategy", wsR, 2, true),
		row("4 KiB read latency, one server (median)", lat.one*1e6, "µs",
			"TCP ping-pong 4 KiB, one answering "+pongWhat+" (median)", lat.tcpOne*1e6, 1.5, false),
		row(fmt.Sprintf("4 KiB read latency, at random over %d servers (median)", headlineServers), lat.spread*1e6, "µs",
			fmt.Sprintf("TCP ping-pong 4 KiB, at random over %d answering %s (median)", headlineServers, pongsWhat), lat.tcpSpread*1e6, 1.5, false),
		row("4 KiB read latency by request, one server (local reads off; median)", latRMA.one*1e6, "µs",
			"TCP ping-pong 4 KiB, one answering "+pongWhat+" (median)", latRMA.tcpOne*1e6, 1.5, false),
		row(fmt.Sprintf("4 KiB read latency by request, at random over %d servers (local reads off; median)", headlineServers), latRMA.spread*1e6, "µs",
			fmt.Sprintf("TCP ping-pong 4 KiB, at random over %d answering %s (median)", headlineServers, pongsWhat), latRMA.tcpSpread*1e6, 1.5, false),
	}
	for _, size := range []int64{1 << 20, 4 << 20} {
		for _, write := range []bool{true, false} {
			goR, cR, err := bindingVsC(ctx, o.FiBw, write, size)
			if err != nil {
				fmt.Fprintf(w, "binding vs C (%s %s): %v\n", dirName(write), units.Bytes(size), err)
				continue
			}
			rows = append(rows, row(fmt.Sprintf("Go binding fi_%s %s depth 8 (shm)", dirName(write), units.Bytes(size)), goR, "GB/s",
				"C, same hints and depth", cR, 0.9, true))
		}
	}

	fmt.Fprintf(w, "## Headline: %s file, 4 servers, strip 1 MiB, one client, default settings\n\n", units.Bytes(o.FileSize))
	fmt.Fprintf(w, "Medians of %d repetitions, interleaved. Load average at start %s, at end %s.\n\n", o.Reps, load0, loadAvg())
	fmt.Fprintln(w, "| figure | value | baseline | ratio | target | met |")
	fmt.Fprintln(w, "|---|---:|---|---:|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.what, r.value, r.base, r.ratio, r.target, r.met)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| path | GB/s | server CPU s/GiB | client CPU s/GiB |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	fmt.Fprintf(w, "| read, default (local reads) | %.2f | %.3f | %.3f |\n", rdR, rdS, rdC)
	fmt.Fprintf(w, "| read, by RMA (local reads off) | %.2f | %.3f | %.3f |\n", rrR, rrS, rrC)
	fmt.Fprintf(w, "| read, sockets | %.2f | %.3f | %.3f |\n", rsR, rsS, rsC)
	fmt.Fprintf(w, "| read, by RMA, into a buffer in huge pages | %.2f | %.3f | %.3f |\n", rhR, rhS, rhC)
	fmt.Fprintf(w, "| write, default | %.2f | %.3f | %.3f |\n", wdR, wdS, wdC)
	fmt.Fprintf(w, "| write, sockets | %.2f | %.3f | %.3f |\n", wsR, wsS, wsC)
	fmt.Fprintf(w, "| local read bs=4M | %.2f | | |\n", ddR)
	fmt.Fprintf(w, "| kernel copy alone (process_vm_writev, %d threads) | %.2f | | |\n\n", cmaThreads, cmaR)
	if hugeAdvised {
		fmt.Fprintf(w, "- read by RMA into a buffer the application advised for transparent huge pages before filling it (madvise MADV_HUGEPAGE, as THP \"always\" does; %s here): %.2f GB/s, %.2f× the read by RMA into 4 KiB pages, %.2f× dd, %.2f× the sockets strategy, server CPU %.3f s/GiB: shm's RMA pins the buffer's pages one page-table walk per page\n",
			thpSetting(), rhR, rhR/rrR, rhR/ddR, rhR/rsR, rhS)
	}
	fmt.Fprintf(w, "- the read by RMA reached %.2f× the kernel's copy alone: the copy shm's CMA path makes, from a page-cache mapping of the same bytes into the same buffer, %d threads, no Ferry code\n", rrR/cmaR, cmaThreads)
	fmt.Fprintf(w, "- the 4 KiB latencies: %d reads at random aligned offsets of the file, and as many confined to one server's strips, alternated in %d rounds with as many TCP round trips of each kind (each answering process sleeps between its requests, as a server does; the TCP client polls its socket for up to %v before it sleeps, as Ferry's client does for a small reply); the spread reads are %.2f× the one-server TCP round trip\n",
		400*o.Reps, latencyRounds, clientlib.DefaultSpinWait, lat.spread/lat.tcpOne)
	fmt.Fprintf(w, "- 4 KiB round trips for reference: TCP within this process, back to back, %.1f µs", rtt1*1e6)
	if fiErr == nil {
		fmt.Fprintf(w, ", fi_pingpong on shm (two processes, messages) %.1f µs", fiRTT*1e6)
	} else {
		fmt.Fprintf(w, ", fi_pingpong: %v", fiErr)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- server CPU per GiB read (default): %.3f s (target ≤ 0.25): %s; by RMA: %.3f s: %s\n", rdS, yes(rdS <= 0.25), rrS, yes(rrS <= 0.25))
	fmt.Fprintf(w, "- idle server: %.2f%% of a core (target < 0.5%%): %s\n", 100*idle, yes(idle < 0.005))
	if len(pings) > 0 {
		p := median(pings)
		fmt.Fprintf(w, "- first `ferry ping` of a fresh process (4 servers): %.0f ms wall (target < 150 ms): %s\n", p*1e3, yes(p < 0.15))
	}
	for _, c := range choice {
		fmt.Fprintf(w, "- %s\n", c)
	}
	if len(resLost) > 0 {
		fmt.Fprintf(w, "- page-cache residency was lost and restored before: %s\n", strings.Join(resLost, "; "))
	}
	return nil
}

// thpSetting is the kernel's transparent huge page setting, as
// /sys/kernel/mm/transparent_hugepage/enabled marks it ("always",
// "madvise", "never"), or "unknown".
func thpSetting() string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return "unknown"
	}
	s := string(b)
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return "THP " + s[i+1:i+j]
		}
	}
	return "unknown"
}

// autoChoice says how server id's auto strategy served, from its counters:
// the requests it sent each way and the copy costs it measured.
func autoChoice(id int, st map[string]int64) string {
	s := fmt.Sprintf("server %d, strategy auto: %d requests by sendfile, %d by pipeline", id,
		st["auto.chose.sendfile"], st["auto.chose.pipeline"])
	if st["auto.cost.read.pipeline.us"] > 0 {
		s += fmt.Sprintf("; copy cost measured per 16 MiB: read %d µs by pipeline, %d by sendfile; write %d µs by pipeline, %d by sendfile",
			st["auto.cost.read.pipeline.us"], st["auto.cost.read.sendfile.us"], st["auto.cost.write.pipeline.us"], st["auto.cost.write.sendfile.us"])
	}
	return s
}

func dirName(write bool) string {
	if write {
		return "write"
	}
	return "read"
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// kernelCopy copies src into dst with process_vm_writev to this process,
// in 1 MiB pieces, from threads goroutines (each a thread while it is in
// the system call), and returns how long it took.
func kernelCopy(src, dst []byte, threads int) (time.Duration, error) {
	if len(dst) < len(src) {
		return 0, fmt.Errorf("kernel copy: %d-byte buffer for %d bytes", len(dst), len(src))
	}
	const piece = 1 << 20
	threads = max(threads, 1)
	share := max((len(src)/threads+piece-1)/piece*piece, piece)
	errs := make(chan error, threads)
	pid := os.Getpid()
	start := time.Now()
	n := 0
	for lo := 0; lo < len(src); lo += share {
		hi := min(lo+share, len(src))
		n++
		go func() {
			for o := lo; o < hi; o += piece {
				e := min(o+piece, hi)
				l := []unix.Iovec{{Base: &src[o]}}
				l[0].SetLen(e - o)
				r := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&dst[o])), Len: e - o}}
				if got, err := unix.ProcessVMWritev(pid, l, r, 0); err != nil || got != e-o {
					errs <- fmt.Errorf("process_vm_writev at %d: %d of %d bytes: %v", o, got, e-o, err)
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for ; n > 0; n-- {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return time.Since(start), first
}

// row makes a table row; higher says whether a larger value is better.
func row(what string, v float64, unit, base string, b, target float64, higher bool) headlineRow {
	ratio := v / b
	met := ratio >= target
	tgt := fmt.Sprintf("≥ %.1f×", target)
	if !higher {
		met = ratio <= target
		tgt = fmt.Sprintf("≤ %.1f×", target)
	}
	return headlineRow{what: what, value: fmt.Sprintf("%.2f %s", v, unit),
		base: fmt.Sprintf("%s: %.2f %s", base, b, unit), ratio: fmt.Sprintf("%.2f×", ratio), target: tgt, met: yes(met)}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// serverCPU is the user+system CPU seconds the processes have used
// (/proc/<pid>/stat fields 14 and 15).
func serverCPU(pids map[int]int) float64 {
	var total float64
	tick := 100.0 // USER_HZ on Linux
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		total += (u + k) / tick
	}
	return total
}

func selfCPU() float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func warm(files []string) {
	b := make([]byte, 4<<20)
	for _, p := range files {
		if fd, err := os.Open(p); err == nil {
			for {
				if _, err := fd.Read(b); err != nil {
					break
				}
			}
			fd.Close()
		}
	}
}

func fileHandle(ctx context.Context, c *clientlib.Client, path string) string {
	f, err := c.Open(ctx, path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return f.Handle()
}

// smallLatency holds the medians of the headline's 4 KiB round trips.
type smallLatency struct {
	// Ferry reads at random aligned offsets of the file (on any
	// server), and confined to one server's strips
	spread, one float64
	// TCP ping-pongs, each to one of the answering processes at random,
	// and each to the first of them
	tcpSpread, tcpOne float64
}

// latencyRounds is how many rounds smallReadLatency alternates its four
// series in. A server (or answering process) that has just been idle
// while others answered takes tens of requests to answer at its usual
// pace (on the 2026-12-07 machine, confined reads right after spread
// ones ran near 60 µs for their first 20 and near 30 µs after 100), so
// each series follows the same kind of series, in rounds of equal length.
const latencyRounds = 10

// smallReadLatency measures n each of: sequential reads of size bytes
// (which divides the strip) at random aligned offsets in the first
// fileSize bytes of the headline file; as many confined to strips 0,
// servers, 2·servers, ... (all on one server); TCP ping-pongs of a
// 64-byte request answered by size bytes, each on one of conns at
// random; and as many on conns[0]. The four alternate in rounds, in that
// order, so that each sees the same minutes of the machine and comes
// after the same kind of series as its counterpart.
func smallReadLatency(ctx context.Context, c *clientlib.Client, conns []pongConn, size, n int, fileSize int64) (smallLatency, error) {
	var l smallLatency
	f, err := c.Open(ctx, "/headline")
	if err != nil {
		return l, err
	}
	defer f.Close()
	b := make([]byte, size)
	req := make([]byte, 64)
	strips := fileSize / headlineStrip
	var ls [4][]float64
	var r [8]byte
	per := max(n/latencyRounds, 1)
	for round := 0; round*per < n; round++ {
		for series := range ls {
			for range min(per, n-round*per) {
				rand.Read(r[:])
				x := int64(binary.LittleEndian.Uint64(r[:]) >> 1)
				start := time.Now()
				switch series {
				case 0, 1:
					off := latencyOffset(x, strips, size, series == 1)
					if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
						return l, err
					}
				default:
					pc := conns[0]
					if series == 2 {
						pc = conns[x%int64(len(conns))]
					}
					if err := pingOnce(pc, req, b); err != nil {
						return l, err
					}
				}
				ls[series] = append(ls[series], time.Since(start).Seconds())
			}
		}
	}
	return smallLatency{spread: median(ls[0]), one: median(ls[1]), tcpSpread: median(ls[2]), tcpOne: median(ls[3])}, nil
}

// latencyOffset turns a random x ≥ 0 into a size-aligned offset in one of
// strips headline strips; confined, only in strips 0, headlineServers,
// 2·headlineServers, ... (one server's).
func latencyOffset(x, strips int64, size int, confined bool) int64 {
	strip := x % strips
	if confined {
		strip = strip / headlineServers * headlineServers
	}
	return strip*headlineStrip + (x/strips)%(headlineStrip/int64(size))*int64(size)
}

// tcpPingPong is the median round trip of a 64-byte request answered by
// size bytes over one loopback TCP connection (Nagle off), n times back
// to back, both ends in this process, the client polling as pingOnce does.
func tcpPingPong(ctx context.Context, size, n int) (float64, error) {
	conns, stop, err := pongs(ctx, "", size, 1)
	if err != nil {
		return 0, err
	}
	defer stop()
	req, resp := make([]byte, 64), make([]byte, size)
	var ls []float64
	for range n {
		start := time.Now()
		if err := pingOnce(conns[0], req, resp); err != nil {
			return 0, err
		}
		ls = append(ls, time.Since(start).Seconds())
	}
	return median(ls), nil
}

// pongConn is a connection to an answering side of a TCP ping-pong,
// with the poller pingOnce polls it by, made once.
type pongConn struct {
	net.Conn
	raw *rawio.Conn // nil where the connection exposes no descriptor
}

// pingOnce makes one round trip on c: req out, len(resp) bytes back.
// Like a Ferry client waiting for a small reply, it polls the socket for
// up to clientlib.DefaultSpinWait before it sleeps, so the two pay for
// the same wake-ups.
func pingOnce(c pongConn, req, resp []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	if c.raw != nil {
		c.raw.Spin(clientlib.DefaultSpinWait)
	}
	_, err := io.ReadFull(c, resp)
	return err
}

// pongs starts procs answering processes of a TCP ping-pong (ferry-fi-bw
// tcp-pong: a 64-byte request answered by size bytes) and connects to
// each, Nagle off; without fibw, goroutines of this process answer
// instead. stop closes the connections and ends the processes.
func pongs(ctx context.Context, fibw string, size, procs int) (conns []pongConn, stop func(), err error) {
	var ends []func()
	stop = func() {
		for _, c := range conns {
			c.Close()
		}
		for _, e := range ends {
			e()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	for range procs {
		var addr string
		if fibw == "" {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, nil, err
			}
			ends = append(ends, func() { ln.Close() })
			go pong(ln, size)
			addr = ln.Addr().String()
		} else {
			cmd := exec.CommandContext(ctx, fibw, "tcp-pong", strconv.Itoa(size))
			out, err := cmd.StdoutPipe()
			if err != nil {
				return nil, nil, err
			}
			if err := cmd.Start(); err != nil {
				return nil, nil, err
			}
			ends = append(ends, func() { cmd.Process.Kill(); cmd.Wait() })
			var port int
			if _, err := fmt.Fscan(out, &port); err != nil {
				return nil, nil, fmt.Errorf("%s tcp-pong: no port: %w", fibw, err)
			}
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		c.(*net.TCPConn).SetNoDelay(true)
		conns = append(conns, pongConn{Conn: c, raw: rawio.New(c)})
	}
	return conns, stop, nil
}

// pong answers one connection of ln: each 64-byte request with size
// bytes, until the connection ends.
func pong(ln net.Listener, size int) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	req := make([]byte, 64)
	resp := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// fiPingPong is the median round trip of libfabric's own fi_pingpong
// (two processes, size-byte messages on an RDM endpoint of provider):
// twice the one-way time it reports (its mean), the median of three runs.
func fiPingPong(ctx context.Context, provider string, size, n int) (float64, error) {
	prog, err := exec.LookPath("fi_pingpong")
	if err != nil {
		return 0, err
	}
	port := strconv.Itoa(freePort())
	args := []string{"-p", provider, "-e", "rdm", "-S", strconv.Itoa(size), "-I", strconv.Itoa(n), "-B", port}
	var rtts []float64
	for r := 0; r < 3; r++ {
		srv := exec.CommandContext(ctx, prog, args...)
		if err := srv.Start(); err != nil {
			return 0, err
		}
		time.Sleep(200 * time.Millisecond) // listening
		cli := append(append([]string(nil), args[:len(args)-2]...), "-P", port, "127.0.0.1")
		out, err := exec.CommandContext(ctx, prog, cli...).CombinedOutput()
		srv.Process.Kill()
		srv.Wait()
		if err != nil {
			return 0, fmt.Errorf("fi_pingpong: %v: %s", err, out)
		}
		// The last line: bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec.
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		f := strings.Fields(lines[len(lines)-1])
		if len(f) < 8 {
			return 0, fmt.Errorf("fi_pingpong: unexpected output %q", out)
		}
		us, err := strconv.ParseFloat(f[6], 64)
		if err != nil {
			return 0, fmt.Errorf("fi_pingpong: %q: %w", f[6], err)
		}
		rtts = append(rtts, 2*us/1e6)
	}
	return median(rtts), nil
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 47592
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// bindingVsC runs the Go binding's raw fabric point and the C program with
// the same provider, direction, size and depth, interleaved, and returns
// the median rates.
func bindingVsC(ctx context.Context, fibw string, write bool, size int64) (goRate, cRate float64, err error) {
	if fibw == "" {
		return 0, 0, fmt.Errorf("no ferry-fi-bw program")
	}
	const depth, bufBytes, volume = 8, 256 << 20, 2 << 30
	src, dst := mmapPopulated(bufBytes), mmapPopulated(bufBytes)
	defer unix.Munmap(src)
	defer unix.Munmap(dst)
	p, err := openFabricPair("shm", src, dst)
	if err != nil {
		return 0, 0, err
	}
	defer p.close()
	var gs, cs []float64
	for r := 0; r < 5; r++ {
		g, err := p.rmaRun(ctx, write, depth, size, volume)
		if err != nil {
			return 0, 0, err
		}
		gs = append(gs, g)
		out, err := exec.CommandContext(ctx, fibw, "shm", dirName(write), fmt.Sprint(size), fmt.Sprint(depth),
			fmt.Sprint(volume), fmt.Sprint(bufBytes)).Output()
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", fibw, err)
		}
		c, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			return 0, 0, err
		}
		cs = append(cs, c)
	}
	return median(gs), median(cs), nil
}

func mmapPopulated(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		panic(err)
	}
	for i := 0; i < n; i += 4096 {
		b[i] = 1
	}
	return b
}
