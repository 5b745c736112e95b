package data

import (
	"context"
	"sync"
	"time"

	"github.com/ferry-hpc/ferry/proto"
)

// auto serves reads by pipeline, which overlaps a disk read with the
// transfer, except reads whose pages are all in the page cache (mincore):
// those go by sendfile (RMA straight from the registered file mapping, no
// server copy: the paper's rule) or by pipeline, whichever it has measured
// faster on this server. Which wins depends on the machine: pipeline
// measured faster for resident data on the 2026-11-25 development VM
// (bench/results/2026-11-25-quick), sendfile on the 2026-12-06 one, whose
// CPU copies without fast string moves (bench/results/2026-12-06c). The
// config's auto_sendfile fixes the choice instead. Writes go by pipeline:
// they pass through the page cache either way, and pwrite from a bounce
// buffer does not fault pages in one at a time.
type auto struct {
	fixed *bool // auto_sendfile: nil measures
	rate  rateChoice
}

func (a *auto) Read(ctx context.Context, e *env, j *job) (Result, error) {
	name, measured := a.choose(e, j)
	e.stats.Add("auto.chose."+name, 1)
	start := time.Now()
	res, err := e.strategy(name).Read(ctx, e, j)
	if measured && err == nil {
		a.rate.record(name == proto.StrategySendfile, time.Since(start), res.Bytes)
	}
	return res, err
}

// choose names the strategy for a read, and whether its time is a sample
// for the measured choice.
func (a *auto) choose(e *env, j *job) (string, bool) {
	if a.fixed != nil && !*a.fixed {
		return proto.StrategyPipeline, false
	}
	end := j.end(true)
	if end == 0 {
		return proto.StrategyPipeline, false
	}
	m, _, err := e.maps.get(j.req.Handle, j.file, end, e.link.Fabric.ep)
	if err != nil {
		return proto.StrategyPipeline, false
	}
	defer e.maps.release(m)
	for i, x := range j.req.Extents {
		if !m.resident(x.Local, j.lens[i]) {
			return proto.StrategyPipeline, false
		}
	}
	if a.fixed != nil {
		return proto.StrategySendfile, false
	}
	if a.rate.pick() {
		return proto.StrategySendfile, true
	}
	return proto.StrategyPipeline, true
}

func (a *auto) Write(ctx context.Context, e *env, j *job) (Result, error) {
	e.stats.Add("auto.chose."+proto.StrategyPipeline, 1)
	return e.strategy(proto.StrategyPipeline).Write(ctx, e, j)
}

// rateChoice picks between two ways of doing the same work by the time
// per byte each has taken lately (a moving average over samples of at
// least minSampleBytes). Each way first gets warmSamples picks; after
// that one pick in exploreEvery goes to the slower way, so that a change
// in the machine's load is noticed.
type rateChoice struct {
	mu        sync.Mutex
	nsPerByte [2]float64 // by way: 0 the first (pipeline), 1 the second (sendfile)
	samples   [2]int
	picks     uint64
}

const (
	warmSamples    = 4
	exploreEvery   = 16
	minSampleBytes = 64 << 10
	rateWeight     = 0.2 // of a new sample in the moving average
)

// pick says whether to take the second way.
func (r *rateChoice) pick() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.picks++
	for w := range 2 {
		if r.samples[w] < warmSamples {
			return w == 1
		}
	}
	second := r.nsPerByte[1] < r.nsPerByte[0]
	if r.picks%exploreEvery == 0 {
		return !second
	}
	return second
}

// record adds a sample of the second way (second) or the first.
func (r *rateChoice) record(second bool, d time.Duration, bytes int64) {
	if bytes < minSampleBytes {
		return
	}
	w := 0
	if second {
		w = 1
	}
	v := float64(d.Nanoseconds()) / float64(bytes)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.samples[w] == 0 {
		r.nsPerByte[w] = v
	} else {
		r.nsPerByte[w] += rateWeight * (v - r.nsPerByte[w])
	}
	r.samples[w]++
}
