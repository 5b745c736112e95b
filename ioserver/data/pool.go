package data

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/verbs"
)

// pool is a bounded set of registered bounce buffers, shared by every
// request on one fabric: a burst of clients waits for buffers rather than
// making the server allocate without limit. n buffers (pool_bytes) are in
// circulation; as many again are registered as spares, touched only when
// a buffer is lost to a dropped client's transfer that the provider has
// not given back (it may still write into it, so it cannot be reused):
// a spare takes its place, and the lost buffer becomes a spare when the
// transfer ends. Registered memory is thus 2 × pool_bytes per fabric, of
// which pool_bytes is resident until clients are dropped.
//
// Buffers are shared among clients (fabric peers): a client may take a
// buffer only while it holds fewer than n / (others + 2), others being the
// clients holding buffers besides it. A client alone gets half the pool
// and every newcomer shrinks the shares, so no one client can take it
// all; what a stopped or slow client holds comes back when its request's
// budget ends and the client is dropped (see wait), so it delays others
// by at most one budget and starves no one.
type pool struct {
	mem   []byte
	mr    *verbs.MemoryRegion
	chunk int
	n     int
	waits atomic.Int64 // times a request found no buffer it could take

	mu    sync.Mutex
	free  []int
	spare []int // registered, not in circulation
	lost  int   // buffers held by transfers of dropped clients, with no spare to replace them
	held  map[verbs.Peer]int
	wake  chan struct{} // closed (and replaced) when a buffer comes back
}

type slot struct {
	idx int
	buf []byte
}

func newPool(ep *verbs.Endpoint, bytes, chunk int64) (*pool, error) {
	n := int(bytes / chunk)
	size := 2 * n * int(chunk)
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("map %d-byte buffer pool: %w", size, err)
	}
	// Touch the buffers in circulation once now, not on the first
	// requests (first touch of fresh memory is expensive on VMs).
	for i := 0; i < n*int(chunk); i += 4096 {
		mem[i] = 0
	}
	mr, err := register(ep, mem)
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("register buffer pool: %w", err)
	}
	p := &pool{mem: mem, mr: mr, chunk: int(chunk), n: n, free: make([]int, 0, n), spare: make([]int, 0, n),
		held: make(map[verbs.Peer]int), wake: make(chan struct{})}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, i)
		p.spare = append(p.spare, n+i)
	}
	return p, nil
}

func (p *pool) slot(i int) slot { return slot{idx: i, buf: p.mem[i*p.chunk : (i+1)*p.chunk]} }

// share is the most buffers who may hold (p.mu held).
func (p *pool) share(who verbs.Peer) int {
	others := len(p.held)
	if p.held[who] > 0 {
		others--
	}
	return max(1, p.n/(others+2))
}

// takeLocked takes a buffer for who if one is free and within its share;
// otherwise it returns the channel to wait on.
func (p *pool) takeLocked(who verbs.Peer) (slot, bool, <-chan struct{}) {
	if len(p.free) == 0 || p.held[who] >= p.share(who) {
		return slot{}, false, p.wake
	}
	i := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.held[who]++
	return p.slot(i), true, nil
}

// tryGet takes a buffer for who if it may have one now.
func (p *pool) tryGet(who verbs.Peer) (slot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok, _ := p.takeLocked(who)
	return s, ok
}

// get waits, until ctx ends, for a buffer who may have.
func (p *pool) get(ctx context.Context, who verbs.Peer) (slot, error) {
	for {
		p.mu.Lock()
		s, ok, wake := p.takeLocked(who)
		p.mu.Unlock()
		if ok {
			return s, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return slot{}, fmt.Errorf("no registered buffer free within the request's budget (%d buffers of %d bytes, in use or past this client's share): %w",
				p.n, p.chunk, unix.ETIMEDOUT)
		}
	}
}

// put gives who's buffer back.
func (p *pool) put(who verbs.Peer, s slot) {
	p.mu.Lock()
	p.free = append(p.free, s.idx)
	p.unholdLocked(who)
	p.wakeLocked()
	p.mu.Unlock()
}

// lose takes who's buffer out of circulation while the provider may still
// use it for op, a transfer of a dropped client: a spare replaces it, and
// it comes back (as a spare, or in circulation if none replaced it) when
// op ends.
func (p *pool) lose(who verbs.Peer, s slot, op *verbs.Op) {
	p.mu.Lock()
	p.unholdLocked(who)
	if k := len(p.spare); k > 0 {
		p.free = append(p.free, p.spare[k-1])
		p.spare = p.spare[:k-1]
		p.wakeLocked()
	} else {
		p.lost++
	}
	p.mu.Unlock()
	go func() {
		<-op.Done()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.lost > 0 {
			p.lost--
			p.free = append(p.free, s.idx)
			p.wakeLocked()
			return
		}
		p.spare = append(p.spare, s.idx)
	}()
}

func (p *pool) unholdLocked(who verbs.Peer) {
	if p.held[who]--; p.held[who] <= 0 {
		delete(p.held, who)
	}
}

func (p *pool) wakeLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// off is the slot's offset in the pool's registration.
func (p *pool) off(s slot) uint64 { return uint64(s.idx * p.chunk) }

func (p *pool) close() {
	deregister(p.mr)
	unix.Munmap(p.mem)
}
