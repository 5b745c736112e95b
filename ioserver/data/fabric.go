package data

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/verbs"
)

// Fabric is one of the server's fabric endpoints and its pool of
// registered bounce buffers.
type Fabric struct {
	ep   *verbs.Endpoint
	pool *pool

	peerMu   sync.Mutex
	peerRefs map[verbs.Peer]int // connections holding each peer
}

// OpenFabric opens an endpoint of provider (bound to iface for networked
// providers, on the first free port of ports) and registers a pool of poolBytes in chunk-byte buffers on
// it. A provider that cannot be opened here gives an error wrapping
// verbs.ErrNotSupported.
func OpenFabric(provider, iface string, ports verbs.PortRange, poolBytes, chunk int64) (*Fabric, error) {
	ep, err := openEndpoint(provider, iface, ports)
	if err != nil {
		return nil, fmt.Errorf("open fabric %s: %w", provider, err)
	}
	p, err := newPool(ep, poolBytes, chunk)
	if err != nil {
		closeEndpoint(ep)
		return nil, fmt.Errorf("fabric %s: %w", provider, err)
	}
	return &Fabric{ep: ep, pool: p}, nil
}

// PoolStats reports how often a request found no bounce buffer free, and
// how many buffers the pool has.
func (f *Fabric) PoolStats() (waits, buffers int64) {
	return f.pool.waits.Load(), int64(cap(f.pool.free))
}

// Close deregisters the pool and closes the endpoint. The Service's
// mappings on it must be gone first (Service.Close).
func (f *Fabric) Close() {
	f.pool.close()
	closeEndpoint(f.ep)
}

// pool is a bounded set of registered bounce buffers, shared by every
// request on one fabric: a burst of clients waits for buffers rather than
// making the server allocate without limit.
type pool struct {
	mem   []byte
	mr    *verbs.MemoryRegion
	chunk int
	free  chan int
	waits atomic.Int64 // times a request found no buffer free
}

type slot struct {
	idx int
	buf []byte
}

func newPool(ep *verbs.Endpoint, bytes, chunk int64) (*pool, error) {
	n := int(bytes / chunk)
	// MAP_POPULATE: touch the pool once now, not on the first requests
	// (first touch of fresh memory is expensive on VMs).
	mem, err := unix.Mmap(-1, 0, n*int(chunk), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("map %d-byte buffer pool: %w", n*int(chunk), err)
	}
	mr, err := register(ep, mem)
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("register buffer pool: %w", err)
	}
	p := &pool{mem: mem, mr: mr, chunk: int(chunk), free: make(chan int, n)}
	for i := 0; i < n; i++ {
		p.free <- i
	}
	return p, nil
}

var errPoolTimeout = errors.New("no registered buffer free")

func (p *pool) slot(i int) slot { return slot{idx: i, buf: p.mem[i*p.chunk : (i+1)*p.chunk]} }

// tryGet takes a free buffer if there is one.
func (p *pool) tryGet() (slot, bool) {
	select {
	case i := <-p.free:
		return p.slot(i), true
	default:
		return slot{}, false
	}
}

// get waits up to timeout for a free buffer.
func (p *pool) get(ctx context.Context, timeout time.Duration) (slot, error) {
	if s, ok := p.tryGet(); ok {
		return s, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case i := <-p.free:
		return p.slot(i), nil
	case <-t.C:
		return slot{}, fmt.Errorf("%w within %v (%d buffers of %d bytes, all in use): %w", errPoolTimeout, timeout, cap(p.free), p.chunk, unix.EBUSY)
	case <-ctx.Done():
		return slot{}, ctx.Err()
	}
}

func (p *pool) put(s slot) { p.free <- s.idx }

// off is the slot's offset in the pool's registration.
func (p *pool) off(s slot) uint64 { return uint64(s.idx * p.chunk) }

func (p *pool) close() {
	deregister(p.mr)
	unix.Munmap(p.mem)
}
