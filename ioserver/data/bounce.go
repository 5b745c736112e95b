package data

import (
	"context"
	"fmt"
	"io"

	"github.com/ferry-hpc/ferry/verbs"
)

// bounce moves bytes through registered bounce buffers from the fabric's
// pool. depth 1 is `copy` (pread, then RMA, one after the other); depth K
// is `pipeline` (the pread of chunk i+1 overlaps the RMA of chunk i, K in
// flight).
type bounce struct{ depth int }

func (b bounce) Read(ctx context.Context, e *env, j *job) (Result, error) {
	if err := b.run(ctx, e, j, true); err != nil {
		return Result{}, err
	}
	return Result{Lens: j.lens, Bytes: sum(j.lens)}, nil
}

func (b bounce) Write(ctx context.Context, e *env, j *job) (Result, error) {
	if err := b.run(ctx, e, j, false); err != nil {
		return Result{}, err
	}
	return Result{Bytes: j.req.Total()}, nil
}

// piece is one RMA-sized part of an extent.
type piece struct {
	local  int64  // datafile offset
	n      int64  // bytes
	bufOff uint64 // offset in the client's window
}

// pieces cuts the job's extents into pieces of at most chunk bytes; for
// reads only the deliverable length (lens) counts.
func (j *job) pieces(chunk int64, read bool) []piece {
	var out []piece
	for i, x := range j.req.Extents {
		n := x.Len
		if read {
			n = j.lens[i]
		}
		for done := int64(0); done < n; {
			m := min(chunk, n-done)
			out = append(out, piece{local: x.Local + done, n: m, bufOff: x.BufOff + uint64(done)})
			done += m
		}
	}
	return out
}

type inflight struct {
	op   *verbs.Op
	slot slot
	p    piece
}

func (b bounce) run(ctx context.Context, e *env, j *job, read bool) error {
	pool := e.link.Fabric.pool
	who := e.link.Peer
	var queue []inflight
	// finish waits for the oldest transfer in flight and, for writes,
	// stores its bytes; the buffer comes back to the caller, unless the
	// provider still holds it (a dropped client): then the pool replaces
	// it, and the caller gets none (idx -1).
	finish := func() (slot, error) {
		f := queue[0]
		queue = queue[1:]
		err := wait(ctx, e.link, f.op)
		if !settled(f.op) {
			pool.lose(who, f.slot, f.op)
			return slot{idx: -1}, err
		}
		if err == nil && !read {
			if _, werr := j.file.WriteAt(f.slot.buf[:f.p.n], f.p.local); werr != nil {
				err = fmt.Errorf("write datafile %s at %d: %w", j.req.Handle, f.p.local, werr)
			}
		}
		return f.slot, err
	}
	put := func(sl slot) {
		if sl.idx >= 0 {
			pool.put(who, sl)
		}
	}
	fail := func(err error) error {
		for len(queue) > 0 {
			sl, _ := finish()
			put(sl)
		}
		return err
	}
	pieces := j.pieces(int64(pool.chunk), read)
	for i, p := range pieces {
		var sl slot
		var err error
		switch {
		case len(queue) >= b.depth:
			sl, err = finish()
		default:
			var ok bool
			if sl, ok = pool.tryGet(who); ok {
				break
			}
			pool.waits.Add(1)
			if len(queue) > 0 {
				// Never wait on the pool while holding buffers: requests
				// that each hold some and wait for more would deadlock.
				// Recycle our own oldest buffer instead.
				sl, err = finish()
			} else {
				sl, err = pool.get(ctx, who)
				if err != nil {
					return err
				}
			}
		}
		if err != nil {
			put(sl)
			return fail(err)
		}
		if read {
			m, rerr := j.file.ReadAt(sl.buf[:p.n], p.local)
			if rerr != nil && rerr != io.EOF {
				put(sl)
				return fail(fmt.Errorf("read datafile %s at %d: %w", j.req.Handle, p.local, rerr))
			}
			clear(sl.buf[m:p.n]) // the file shrank under us: deliver zeros, never stale bytes
		}
		op, err := post(ctx, e.link, read, pool.mr, pool.off(sl), uint64(p.n), j.req.Remote, p.bufOff, i == len(pieces)-1)
		if err != nil {
			put(sl)
			return fail(err)
		}
		queue = append(queue, inflight{op: op, slot: sl, p: p})
	}
	var first error
	for len(queue) > 0 {
		sl, err := finish()
		put(sl)
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
