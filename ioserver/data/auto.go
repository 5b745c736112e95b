package data

import (
	"context"

	"github.com/ferry-hpc/ferry/proto"
)

// auto serves reads by pipeline, which overlaps the disk read with the
// transfer; with residentSendfile (the config's auto_sendfile), reads whose
// pages are all in the page cache go by sendfile, which needs no server
// copy when no disk read is needed: the paper's rule. Pipeline is the
// default because it measured faster for resident data too on the
// development VM's providers (bench/results/2026-11-25-quick). Writes go
// by pipeline: they pass through the page cache either way, and pwrite
// from a bounce buffer does not fault pages in one at a time.
type auto struct{ residentSendfile bool }

func (a auto) Read(ctx context.Context, e *env, j *job) (Result, error) {
	name := a.choose(e, j)
	e.stats.Add("auto.chose."+name, 1)
	return e.strategy(name).Read(ctx, e, j)
}

func (a auto) choose(e *env, j *job) string {
	end := j.end(true)
	if !a.residentSendfile || end == 0 {
		return proto.StrategyPipeline
	}
	m, _, err := e.maps.get(j.req.Handle, j.file, end, e.link.Fabric.ep)
	if err != nil {
		return proto.StrategyPipeline
	}
	defer e.maps.release(m)
	for i, x := range j.req.Extents {
		if !m.resident(x.Local, j.lens[i]) {
			return proto.StrategyPipeline
		}
	}
	return proto.StrategySendfile
}

func (a auto) Write(ctx context.Context, e *env, j *job) (Result, error) {
	e.stats.Add("auto.chose."+proto.StrategyPipeline, 1)
	return e.strategy(proto.StrategyPipeline).Write(ctx, e, j)
}
