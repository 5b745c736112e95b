package data

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// auto serves a request by sendfile (RMA straight from or into the
// registered datafile mapping: no server copy, the paper's rule) or by
// pipeline (through bounce buffers, overlapping a disk read with the
// transfer):
//
//   - Reads whose pages are not all in the page cache (mincore) go by
//     pipeline, so the disk read overlaps the transfer. So do writes that
//     overwrite pages not in the page cache (cachestat: a mapping would
//     read each page in before overwriting it, pwrite does not), and
//     writes that extend the datafile: a mapping would be made anew for
//     the longer file at each one, and its new pages zeroed before the
//     copy, costs the measure below does not see. So, too, do writes that
//     overwrite clean pages (cachestat: written back since they were last
//     written, as fsync leaves them): the mapping's first write to each
//     such page is a write fault (ext4: page_mkwrite, per 4 KiB block),
//     and 256 MiB overwritten that way over 4 local servers went at
//     0.9-1.1 GB/s by sendfile against 3.7-4.0 by pipeline
//     (BenchmarkStriped, bench/results/2026-12-07g). sendfile now maps
//     such a range in anew first (mapping.unmapClean), which took it to
//     4.8-5.6 GB/s here, above pipeline's 3.9-4.4; but that costs one
//     fault per folio, and a file system that keeps 4 KiB folios (ext4
//     before large folios) pays one per page again (a scratch measure of
//     MADV_POPULATE_WRITE over 256 MiB written in 4 KiB pieces: 133-148
//     ms mapped anew against 125-131 ms through write-protected entries;
//     in 1 MiB pieces, 25 against 375-519 ms), so auto keeps pipeline for
//     them, and drops a cached mapping's entries over the range before
//     that pipeline write (unmapCleanCached). Once it has dirtied them,
//     the next write goes by sendfile, mapping them in anew, and the
//     writes after it until the next writeback are the fast ones (6-8
//     GB/s).
//   - The rest go by sendfile unless pipeline costs this server's CPU
//     clearly less (by more than pipelineMargin), measured once by
//     measureCopyCosts, when the server starts (Service.MeasureEarly) or
//     else at the first request (until the measure is in, by pipeline).
//     The winner differs between machines.
//   - On a provider whose registration pins memory (a NIC's), sendfile's
//     whole-file registration would read the file in and pin it: pipeline.
//   - The config's auto_sendfile fixes the choice instead: true sends
//     resident reads and every write whose overwritten pages are resident
//     (appends too) by sendfile, on any provider; false, everything by
//     pipeline.
type auto struct {
	fixed *bool // auto_sendfile; nil: measured
	dir   string
	stats Counter
	log   *slog.Logger

	once      sync.Once
	measuring sync.WaitGroup
	costs     atomic.Pointer[copyCosts] // nil until measured
}

func newAuto(o Options) *auto {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	return &auto{fixed: o.AutoSendfile, dir: filepath.Join(o.Dir, "data"), stats: o.Stats, log: log}
}

// wait waits for a measurement under way (Service.Close).
func (a *auto) wait() { a.measuring.Wait() }

func (a *auto) Read(ctx context.Context, e *env, j *job) (Result, error) {
	name := proto.StrategyPipeline
	if a.wants(e, true) && a.residentRead(e, j) {
		name = proto.StrategySendfile
	}
	e.stats.AddJoined("auto.chose.", name, 1)
	return e.strategy(name).Read(ctx, e, j)
}

func (a *auto) Write(ctx context.Context, e *env, j *job) (Result, error) {
	name := proto.StrategyPipeline
	if a.wants(e, false) {
		if a.residentWrite(j, a.fixed != nil, a.fixed == nil) {
			name = proto.StrategySendfile
		} else if a.fixed == nil {
			unmapCleanCached(e, j)
		}
	}
	e.stats.AddJoined("auto.chose.", name, 1)
	return e.strategy(name).Write(ctx, e, j)
}

// unmapCleanCached drops the page-table entries of a cached mapping of
// the write's datafile over the write's ranges where they hold clean
// pages (mapping.unmapClean), before a pipeline write dirties them: the
// next write, by sendfile, then maps them in anew, one fault per large
// folio, instead of a write fault per 4 KiB page through the entries
// writeback left read-only: the second write after a sync (sendfile after
// pipeline) of 256 MiB over 4 local servers went at 1.15 GB/s, and at
// 6.15-6.23 with this (BenchmarkStriped, bench/results/2026-12-07g).
func unmapCleanCached(e *env, j *job) {
	m := e.maps.cached(j.req.Handle)
	if m == nil {
		return
	}
	defer e.maps.release(m)
	for _, x := range j.req.Extents {
		m.unmapClean(j.file, x.Local, x.Len)
	}
}

// wants says whether sendfile should serve a request of this kind when
// its pages allow.
func (a *auto) wants(e *env, read bool) bool {
	if a.fixed != nil {
		return *a.fixed
	}
	if e.link.Fabric == nil || e.link.Fabric.pins {
		return false
	}
	c := a.measured()
	if c == nil {
		return false
	}
	if read {
		return c.sendfileReads()
	}
	return c.sendfileWrites()
}

// MeasureEarly starts auto's copy-cost measurement now, in the
// background, when auto is the service's default strategy, its choice is
// not fixed by the config, and one of fabrics is a provider it measures
// for (one whose registration does not pin). Left to the first request,
// the measure ran beside that request's client on a busy machine, and
// every request until it was in went by pipeline: 340 of the 768
// requests of a 16 MiB read point of ferry bench on a fresh cluster
// (bench/results/2026-12-07g).
func (s *Service) MeasureEarly(fabrics []*Fabric) bool {
	a, ok := s.set[proto.StrategyAuto].(*auto)
	if !ok || s.o.Strategy != proto.StrategyAuto || a.fixed != nil {
		return false
	}
	for _, f := range fabrics {
		if f != nil && !f.pins {
			a.measured()
			return true
		}
	}
	return false
}

// measured returns the copy costs, or nil while they are being measured
// (in the background, started by the first call).
func (a *auto) measured() *copyCosts {
	if c := a.costs.Load(); c != nil {
		return c
	}
	a.once.Do(func() {
		a.measuring.Add(1)
		go func() {
			defer a.measuring.Done()
			c, err := measureCopyCosts(a.dir)
			if err != nil {
				// Pipeline, the strategy that needs no mapping, stays.
				a.log.Warn("auto: cannot measure copy costs; serving by pipeline", "err", err)
				a.costs.Store(&copyCosts{ReadSendfile: time.Hour, WriteSendfile: time.Hour})
				a.stats.Add("auto.cost.unmeasured", 1)
				return
			}
			a.log.Info("auto: copy costs measured", "costs", c.String(),
				"reads", pick(c.sendfileReads()), "writes", pick(c.sendfileWrites()))
			a.costs.Store(&c)
			// Counted after the choice is in force; the read pipeline
			// figure last, so a reader that sees it sees all four.
			a.stats.Add("auto.cost.read.sendfile.us", c.ReadSendfile.Microseconds())
			a.stats.Add("auto.cost.write.pipeline.us", c.WritePipeline.Microseconds())
			a.stats.Add("auto.cost.write.sendfile.us", c.WriteSendfile.Microseconds())
			a.stats.Add("auto.cost.read.pipeline.us", c.ReadPipeline.Microseconds())
		}()
	})
	return nil
}

func pick(sendfile bool) string {
	if sendfile {
		return proto.StrategySendfile
	}
	return proto.StrategyPipeline
}

// residentRead says whether every page the read delivers is in the page
// cache.
func (a *auto) residentRead(e *env, j *job) bool {
	end := j.end(true)
	if end == 0 {
		return false
	}
	m, _, err := e.maps.get(j.req.Handle, j.file, end, e.link.Fabric.ep)
	if err != nil {
		return false
	}
	defer e.maps.release(m)
	for i, x := range j.req.Extents {
		if !m.resident(x.Local, j.lens[i]) {
			return false
		}
	}
	return true
}

// residentWrite says whether every page the write overwrites within the
// datafile's present size (the page holding its end included) is in the
// page cache (and dirty, if dirty), and, unless appends are allowed,
// whether the write stays within that size.
func (a *auto) residentWrite(j *job, appends, dirty bool) bool {
	fi, err := j.file.Stat()
	if err != nil {
		return false
	}
	size := fi.Size()
	if !appends && j.end(false) > size {
		return false
	}
	var ranges [][2]int64
	for _, x := range j.req.Extents {
		if n := min(x.Local+x.Len, roundUp(size)) - x.Local; n > 0 {
			ranges = append(ranges, [2]int64{x.Local, n})
		}
	}
	return residentFile(j.file, ranges, dirty)
}

// residentFile says whether every page of the ranges ({offset, length})
// of f is in the page cache, and with dirty whether every one is dirty
// too, by cachestat(2) (Linux 6.5 and later; on an older kernel it says
// no for any range, and auto's writes go by pipeline except appends that
// auto_sendfile = true allows).
func residentFile(f *os.File, ranges [][2]int64, dirty bool) bool {
	for _, r := range ranges {
		start := r[0] / pageSize * pageSize
		pages := (roundUp(r[0]+r[1]) - start) / pageSize
		st, ok := pageCache(f, start, pages*pageSize)
		if !ok || int64(st.Cache) < pages || dirty && int64(st.Dirty) < pages {
			return false
		}
	}
	return true
}

// pageCache is cachestat(2) of [off, off+n) of f (page-aligned); false
// where the kernel has no cachestat (before Linux 6.5).
func pageCache(f *os.File, off, n int64) (unix.Cachestat_t, bool) {
	var st unix.Cachestat_t
	err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Off: uint64(off), Len: uint64(n)}, &st, 0)
	return st, err == nil
}
