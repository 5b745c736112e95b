package ioserver

import (
	"context"
	"fmt"
	"io"

	"github.com/ferry-hpc/ferry/verbs"
)

// The RDMA strategies move bytes with one-sided RMA between the datafile
// and the client's registered window: fi_write into it for reads, fi_read
// from it for writes. A reply goes out only after every RMA reported
// completion; verbs requests delivery completion for writes, so "done"
// never overtakes the bytes.

// piece is one RMA-sized part of an extent.
type piece struct {
	local  int64  // datafile offset
	n      int64  // bytes
	bufOff uint64 // offset in the client's window
}

// pieces cuts the job's extents into pieces of at most chunk bytes; for
// reads only the deliverable length (Lens) counts.
func (j *Job) pieces(chunk int64, read bool) []piece {
	var out []piece
	for i, x := range j.Req.Extents {
		n := x.Len
		if read {
			n = j.Lens[i]
		}
		for done := int64(0); done < n; {
			m := min(chunk, n-done)
			out = append(out, piece{local: x.Local + done, n: m, bufOff: x.BufOff + uint64(done)})
			done += m
		}
	}
	return out
}

func (j *Job) remote() verbs.RemoteBuffer {
	return verbs.RemoteBuffer{Addr: j.Req.Remote.Addr, Key: j.Req.Remote.Key, Len: j.Req.Remote.Len}
}

// bounceStrategy copies through registered bounce buffers from the pool.
// depth 1 is `copy` (pread, then RMA, one after the other); depth K is
// `pipeline` (pread of chunk i+1 overlaps the RMA of chunk i, K in flight).
type bounceStrategy struct {
	name  string
	depth int
	s     *Server
}

func (b bounceStrategy) Name() string { return b.name }

type inflight struct {
	op   *verbs.Op
	slot slot
	p    piece
}

func (b bounceStrategy) run(ctx context.Context, j *Job, read bool) error {
	pool := j.Fabric.pool
	chunk := int64(pool.chunk)
	var queue []inflight
	// finish waits for the oldest transfer in flight and, for writes,
	// stores its bytes; the buffer comes back to the caller.
	finish := func() (slot, error) {
		f := queue[0]
		queue = queue[1:]
		err := f.op.Wait(context.WithoutCancel(ctx)) // the buffer is in use until completion
		if err == nil && !read {
			if _, werr := j.File.WriteAt(f.slot.buf[:f.p.n], f.p.local); werr != nil {
				err = fmt.Errorf("write datafile %s at %d: %w", j.Req.Handle, f.p.local, werr)
			}
		}
		return f.slot, err
	}
	fail := func(err error) error {
		for len(queue) > 0 {
			sl, _ := finish()
			pool.put(sl)
		}
		return err
	}
	for _, p := range j.pieces(chunk, read) {
		var sl slot
		var err error
		switch {
		case len(queue) >= b.depth:
			sl, err = finish()
		default:
			var ok bool
			if sl, ok = pool.tryGet(); ok {
				break
			}
			pool.waits.Add(1)
			if len(queue) > 0 {
				// Never wait on the pool while holding buffers: requests
				// that each hold some and wait for more would deadlock.
				// Recycle our own oldest buffer instead.
				sl, err = finish()
			} else {
				sl, err = pool.get(ctx, b.s.timeout)
				if err != nil {
					return err
				}
			}
		}
		if err != nil {
			pool.put(sl)
			return fail(err)
		}
		var op *verbs.Op
		if read {
			m, rerr := j.File.ReadAt(sl.buf[:p.n], p.local)
			if rerr != nil && rerr != io.EOF {
				pool.put(sl)
				return fail(fmt.Errorf("read datafile %s at %d: %w", j.Req.Handle, p.local, rerr))
			}
			clear(sl.buf[m:p.n]) // the file shrank under us: deliver zeros, never stale bytes
			op, err = j.Fabric.ep.Start(ctx, verbs.RMA{Kind: verbs.Write, Peer: j.Peer, Local: verbs.One(pool.mr, sl.off(pool.chunk), uint64(p.n)), Remote: j.remote(), Off: p.bufOff})
		} else {
			op, err = j.Fabric.ep.Start(ctx, verbs.RMA{Kind: verbs.Read, Peer: j.Peer, Local: verbs.One(pool.mr, sl.off(pool.chunk), uint64(p.n)), Remote: j.remote(), Off: p.bufOff})
		}
		if err != nil {
			pool.put(sl)
			return fail(fmt.Errorf("rma %s: %w", b.name, err))
		}
		queue = append(queue, inflight{op: op, slot: sl, p: p})
	}
	var first error
	for len(queue) > 0 {
		sl, err := finish()
		pool.put(sl)
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (b bounceStrategy) Read(ctx context.Context, j *Job) error  { return b.run(ctx, j, true) }
func (b bounceStrategy) Write(ctx context.Context, j *Job) error { return b.run(ctx, j, false) }

// sendfileStrategy registers a mapping of the datafile and lets the
// fabric move bytes straight between the page cache and the client: no
// copy by the server's CPU. Where registration is refused it falls back to
// pipeline, counted.
type sendfileStrategy struct{ s *Server }

func (sendfileStrategy) Name() string { return "sendfile" }

func (st sendfileStrategy) fallback(ctx context.Context, j *Job, read bool, why error) error {
	st.s.stats.add("fallback.sendfile", 1)
	st.s.log.Debug("sendfile falls back to pipeline", "handle", j.Req.Handle, "err", why)
	p := st.s.strategy("pipeline").(bounceStrategy)
	return p.run(ctx, j, read)
}

func (st sendfileStrategy) Read(ctx context.Context, j *Job) error {
	var end int64
	for i, x := range j.Req.Extents {
		if j.Lens[i] > 0 {
			end = max(end, x.Local+j.Lens[i])
		}
	}
	if end == 0 {
		return nil
	}
	unlock := st.s.maps.lock(j.Req.Handle, false)
	defer unlock()
	// Under the lock the file can no longer shrink: clamp to its size now.
	fi, err := j.File.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < end {
		for i, x := range j.Req.Extents {
			j.Lens[i] = max(0, min(j.Lens[i], fi.Size()-x.Local))
		}
		end = fi.Size()
		if end == 0 {
			return nil
		}
	}
	m, mr, err := st.s.maps.get(j.Req.Handle, j.File, end, j.Fabric.ep)
	if err != nil {
		return st.fallback(ctx, j, true, err)
	}
	defer st.s.maps.release(m)
	return st.rma(ctx, j, m, mr, true)
}

func (st sendfileStrategy) Write(ctx context.Context, j *Job) error {
	var end int64
	for _, x := range j.Req.Extents {
		end = max(end, x.Local+x.Len)
	}
	if end == 0 {
		return nil
	}
	unlock := st.s.maps.lock(j.Req.Handle, false)
	defer unlock()
	// The mapping may only cover the file: extend it first.
	fi, err := j.File.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < end {
		if err := j.File.Truncate(end); err != nil {
			return fmt.Errorf("extend datafile %s to %d: %w", j.Req.Handle, end, err)
		}
	}
	m, mr, err := st.s.maps.get(j.Req.Handle, j.File, end, j.Fabric.ep)
	if err != nil {
		return st.fallback(ctx, j, false, err)
	}
	defer st.s.maps.release(m)
	return st.rma(ctx, j, m, mr, false)
}

// rma moves every piece between the registered mapping and the client,
// all in flight at once, and waits for all of them.
func (st sendfileStrategy) rma(ctx context.Context, j *Job, m *mapping, mr *verbs.MemoryRegion, read bool) error {
	var ops []*verbs.Op
	var first error
	for _, p := range j.pieces(64<<20, read) {
		var op *verbs.Op
		var err error
		// Map the range's page-cache pages into our page table in one
		// call rather than one minor fault per 4 KiB page during the
		// fabric's copy of a fresh mapping.
		populateRange(m.data, p.local, p.n, !read)
		if read {
			op, err = j.Fabric.ep.Start(ctx, verbs.RMA{Kind: verbs.Write, Peer: j.Peer, Local: verbs.One(mr, uint64(p.local), uint64(p.n)), Remote: j.remote(), Off: p.bufOff})
		} else {
			op, err = j.Fabric.ep.Start(ctx, verbs.RMA{Kind: verbs.Read, Peer: j.Peer, Local: verbs.One(mr, uint64(p.local), uint64(p.n)), Remote: j.remote(), Off: p.bufOff})
		}
		if err != nil {
			first = fmt.Errorf("rma sendfile: %w", err)
			break
		}
		ops = append(ops, op)
	}
	for _, op := range ops {
		if err := op.Wait(context.WithoutCancel(ctx)); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// autoStrategy serves reads with pipeline (which overlaps the disk read
// with the transfer); with auto_sendfile on, page-cache-resident reads go
// by sendfile (no server copy when no disk read is needed). The paper's
// rule is the second; on this machine's providers pipeline measured faster
// for resident data too, so it is the default (README, bench/results). Writes use
// pipeline: they go through the page cache either way, and pwrite from a
// bounce buffer does not fault pages in one at a time.
type autoStrategy struct{ s *Server }

func (autoStrategy) Name() string { return "auto" }

func (a autoStrategy) Read(ctx context.Context, j *Job) error {
	st := a.choose(j)
	a.s.stats.add("auto.chose."+st.Name(), 1)
	return st.Read(ctx, j)
}

func (a autoStrategy) choose(j *Job) Strategy {
	if !a.s.self.AutoSendfile {
		return a.s.strategy("pipeline")
	}
	var end int64
	for i, x := range j.Req.Extents {
		if j.Lens[i] > 0 {
			end = max(end, x.Local+j.Lens[i])
		}
	}
	if end == 0 {
		return a.s.strategy("pipeline")
	}
	m, _, err := a.s.maps.get(j.Req.Handle, j.File, end, j.Fabric.ep)
	if err != nil {
		return a.s.strategy("pipeline")
	}
	defer a.s.maps.release(m)
	for i, x := range j.Req.Extents {
		if !m.resident(x.Local, j.Lens[i]) {
			return a.s.strategy("pipeline")
		}
	}
	return a.s.strategy("sendfile")
}

func (a autoStrategy) Write(ctx context.Context, j *Job) error {
	a.s.stats.add("auto.chose.pipeline", 1)
	return a.s.strategy("pipeline").Write(ctx, j)
}
