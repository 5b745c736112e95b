package data

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// sendfile registers a mapping of the datafile and lets the fabric move
// bytes straight between the page cache and the client: no copy by the
// server's CPU. Where registration is refused it falls back to pipeline,
// counted.
type sendfile struct{}

func (sendfile) Read(ctx context.Context, e *env, j *job) (Result, error) {
	end := j.end(true)
	if end == 0 {
		return Result{Lens: j.lens}, nil
	}
	unlock := e.locks.lock(j.req.Handle, false)
	defer unlock()
	// Under the lock the file can no longer shrink: clamp to its size now.
	fi, err := j.file.Stat()
	if err != nil {
		return Result{}, err
	}
	if fi.Size() < end {
		for i, x := range j.req.Extents {
			j.lens[i] = max(0, min(j.lens[i], fi.Size()-x.Local))
		}
		if end = j.end(true); end == 0 {
			return Result{Lens: j.lens}, nil
		}
	}
	m, mr, err := e.maps.get(j.req.Handle, j.file, end, e.link.Fabric.ep)
	if err != nil {
		return fallback(ctx, e, j, true, err)
	}
	defer e.maps.release(m)
	if err := rmaMapping(ctx, e, j, m, mr, true); err != nil {
		return retry(ctx, e, j, true, err)
	}
	return Result{Lens: j.lens, Bytes: sum(j.lens)}, nil
}

func (sendfile) Write(ctx context.Context, e *env, j *job) (Result, error) {
	end := j.end(false)
	if end == 0 {
		return Result{}, nil
	}
	unlock := e.locks.lock(j.req.Handle, false)
	defer unlock()
	if err := e.locks.backWrite(j.req.Handle, j.file, j.req.Extents, end); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) { // no fallocate: pwrite says ENOSPC itself
			return fallback(ctx, e, j, false, err)
		}
		return Result{}, err
	}
	m, mr, err := e.maps.get(j.req.Handle, j.file, end, e.link.Fabric.ep)
	if err != nil {
		return fallback(ctx, e, j, false, err)
	}
	defer e.maps.release(m)
	if err := rmaMapping(ctx, e, j, m, mr, false); err != nil {
		return retry(ctx, e, j, false, err)
	}
	return Result{Bytes: j.req.Total()}, nil
}

// fallback serves the job by pipeline where the mapping cannot be had.
func fallback(ctx context.Context, e *env, j *job, read bool, why error) (Result, error) {
	e.stats.Add("fallback.sendfile", 1)
	e.log.Debug("sendfile falls back to pipeline", "handle", j.req.Handle, "err", why)
	p := e.strategy(proto.StrategyPipeline)
	if read {
		return p.Read(ctx, e, j)
	}
	return p.Write(ctx, e, j)
}

// sendfilePiece is the most one RMA of the mapping moves. On shm each RMA
// is one copy made under the client endpoint's lock, which the client's
// own progress also takes: a piece of tens of MiB made the client spin on
// that lock for the whole copy (seen in perf), a few MiB bounds that wait
// while keeping the per-post cost small against the copy.
const sendfilePiece = 4 << 20

// retry serves the job again by pipeline after a transfer from or into
// the mapping failed (a provider that cannot take the mapping at some
// size), counted; moving the bytes again is harmless both ways. A dropped
// client or an ended budget is final.
func retry(ctx context.Context, e *env, j *job, read bool, why error) (Result, error) {
	if errors.Is(why, ErrPeerDropped) || ctx.Err() != nil {
		return Result{}, why
	}
	e.stats.Add("fallback.sendfile.rma", 1)
	e.log.Warn("sendfile transfer failed; serving the request by pipeline", "handle", j.req.Handle, "err", why)
	p := e.strategy(proto.StrategyPipeline)
	if read {
		return p.Read(ctx, e, j)
	}
	return p.Write(ctx, e, j)
}

// rmaMapping moves every piece between the registered mapping and the
// client, all in flight at once, and waits for all of them.
func rmaMapping(ctx context.Context, e *env, j *job, m *mapping, mr *verbs.MemoryRegion, read bool) error {
	var ops []*verbs.Op
	var first error
	pieces := j.pieces(sendfilePiece, read)
	for i, p := range pieces {
		if !read {
			m.unmapClean(j.file, p.local, p.n)
		}
		// Map the range's page-cache pages into our page table in one
		// call rather than one minor fault per 4 KiB page during the
		// fabric's copy of a fresh mapping.
		m.populate(p.local, p.n, !read)
		op, err := post(ctx, e.link, read, mr, uint64(p.local), uint64(p.n), j.req.Remote, p.bufOff, i == len(pieces)-1)
		if err != nil {
			first = err
			break
		}
		ops = append(ops, op)
	}
	for _, op := range ops {
		if err := wait(ctx, e.link, op); err != nil && first == nil {
			first = err
		}
	}
	for _, op := range ops {
		// A dropped client's transfers may outlive the grace: the mapping
		// and the file's lock stay with them, or the pages could go.
		<-op.Done()
	}
	return first
}
