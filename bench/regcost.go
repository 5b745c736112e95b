package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/regcache"
	"github.com/ferry-hpc/ferry/verbs"
)

// Registration strategies of the registration-cost experiment (the
// paper's comparison): how a user buffer becomes RMA-able for each request.
const (
	RegPerRequest = "per-request" // register, transfer, deregister, every request
	RegCache      = "regcache"    // registration cache (regcache package): register on miss only
	RegBounce     = "bounce"      // copy into a pre-registered bounce buffer, transfer from it
)

// RegCostMethods in the order they are reported.
var RegCostMethods = []string{RegPerRequest, RegCache, RegBounce}

// pinner registers through an endpoint and, when pin is set, mlocks the
// pages first, as NIC drivers pin registered memory (munlock when the
// registration is dropped). The providers on this machine do not pin, so
// without it registration looks nearly free here.
type pinner struct {
	ep  *verbs.Endpoint
	pin bool

	mu     sync.Mutex
	locked [][]byte // ranges pinned for the registration cache, unlocked at the end
}

func (r *pinner) lock(p unsafe.Pointer, n int) error {
	if !r.pin {
		return nil
	}
	if err := unix.Mlock(unsafe.Slice((*byte)(p), n)); err != nil {
		return fmt.Errorf("mlock %d bytes: %w", n, err)
	}
	return nil
}

func (r *pinner) unlock(p unsafe.Pointer, n int) {
	if r.pin {
		unix.Munlock(unsafe.Slice((*byte)(p), n))
	}
}

// Register satisfies regcache.Registrar: pin (optionally), then register.
func (r *pinner) Register(p unsafe.Pointer, n int, acc verbs.Access) (*verbs.MemoryRegion, error) {
	if err := r.lock(p, n); err != nil {
		return nil, err
	}
	mr, err := r.ep.Register(p, n, acc)
	if err != nil {
		r.unlock(p, n)
		return nil, err
	}
	if r.pin {
		r.mu.Lock()
		r.locked = append(r.locked, unsafe.Slice((*byte)(p), n))
		r.mu.Unlock()
	}
	return mr, nil
}

func (r *pinner) unlockAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.locked {
		unix.Munlock(b)
	}
	r.locked = nil
}

// regCostResult is one repetition of one method at one size.
type regCostResult struct {
	GBs       float64 // end to end: preparation plus the RMA write
	PrepUs    float64 // mean µs per request spent making the buffer RMA-able (register/deregister, cache lookup, or bounce copy)
	HitRate   float64 // regcache only
	CacheNote string
}

// regCostRun runs one repetition: requests of size bytes, cycling through
// user (a buffer larger than the CPU caches), each made RMA-able by method
// and written with fi_write into the peer's region.
func regCostRun(ctx context.Context, p *fabricPair, method string, user []byte, size, volume int64, pin bool, logw io.Writer) (regCostResult, error) {
	n := repBytes(volume, size)
	c := cycle{n: len(user), size: int(size)}
	pr := &pinner{ep: p.a, pin: pin}
	var res regCostResult
	var prep time.Duration
	ops := 0
	switch method {
	case RegPerRequest:
		start := time.Now()
		for moved := int64(0); moved < n; moved += size {
			o := c.next()
			t0 := time.Now()
			ptr := unsafe.Pointer(&user[o])
			mr, err := pr.Register(ptr, int(size), verbs.AccessLocal)
			if err != nil {
				return res, err
			}
			t1 := time.Now()
			err = p.a.Do(ctx, verbs.RMA{Kind: verbs.Write, Peer: p.peer, Local: verbs.One(mr, 0, uint64(size)), Remote: p.rb, Off: uint64(o)})
			t2 := time.Now()
			mr.Close()
			pr.unlock(ptr, int(size))
			pr.locked = pr.locked[:0]
			prep += t1.Sub(t0) + time.Since(t2)
			ops++
			if err != nil {
				return res, err
			}
		}
		res.GBs = gbs(n, time.Since(start))
	case RegCache:
		cache, err := regcache.New(pr, regcache.Options{MaxEntries: 1 << 17, MaxBytes: 2 << 30, Logf: func(f string, a ...any) {
			if logw != nil {
				fmt.Fprintf(logw, "regcache: "+f+"\n", a...)
			}
		}})
		if err != nil {
			return res, err
		}
		defer func() {
			cache.Close()
			pr.unlockAll()
		}()
		one := func(o int, timed bool) error {
			t0 := time.Now()
			h, err := cache.Acquire(unsafe.Pointer(&user[o]), int(size), verbs.AccessLocal)
			if err != nil {
				return err
			}
			t1 := time.Now()
			err = p.a.Do(ctx, verbs.RMA{Kind: verbs.Write, Peer: p.peer, Local: verbs.One(h.MR(), h.Offset(), uint64(size)), Remote: p.rb, Off: uint64(o)})
			t2 := time.Now()
			h.Release()
			if timed {
				prep += t1.Sub(t0) + time.Since(t2)
				ops++
			}
			return err
		}
		// Warm the cache with one pass over the working set (untimed): the
		// point measures the steady state of an application that reuses
		// its buffers.
		for o := 0; o+int(size) <= len(user); o += int(size) {
			if err := one(o, false); err != nil {
				return res, err
			}
		}
		before := cache.Stats()
		start := time.Now()
		for moved := int64(0); moved < n; moved += size {
			if err := one(c.next(), true); err != nil {
				return res, err
			}
		}
		res.GBs = gbs(n, time.Since(start))
		after := cache.Stats()
		hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
		if hits+misses > 0 {
			res.HitRate = float64(hits) / float64(hits+misses)
		}
		res.CacheNote = fmt.Sprintf("monitor %s, %d hits %d misses", after.Monitor, hits, misses)
	case RegBounce:
		bounce, err := anonBuffer(int(size))
		if err != nil {
			return res, err
		}
		defer freeBuffer(bounce)
		bp := unsafe.Pointer(&bounce[0])
		mr, err := pr.Register(bp, int(size), verbs.AccessLocal)
		if err != nil {
			return res, err
		}
		defer func() { mr.Close(); pr.unlockAll() }()
		start := time.Now()
		for moved := int64(0); moved < n; moved += size {
			o := c.next()
			t0 := time.Now()
			copy(bounce, user[o:o+int(size)])
			prep += time.Since(t0)
			ops++
			if err := p.a.Do(ctx, verbs.RMA{Kind: verbs.Write, Peer: p.peer, Local: verbs.One(mr, 0, uint64(size)), Remote: p.rb, Off: uint64(o)}); err != nil {
				return res, err
			}
		}
		res.GBs = gbs(n, time.Since(start))
	default:
		return res, fmt.Errorf("unknown registration method %q", method)
	}
	if ops > 0 {
		res.PrepUs = prep.Seconds() * 1e6 / float64(ops)
	}
	return res, nil
}
