package ioserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/verbs"
)

// fabric is one open libfabric endpoint of the server and its pool of
// registered bounce buffers.
type fabric struct {
	ep   *verbs.Endpoint
	pool *pool
}

// providersFor lists the providers a configured name asks the server to
// open. "auto" offers every provider that opens here: shm for clients on
// this host, tcp for the rest; each client picks.
func providersFor(name, strategy string) []string {
	if strategy == "sockets" {
		return nil // a sockets-only server offers no fabric
	}
	switch name {
	case "", "auto":
		return []string{"shm", "tcp;ofi_rxm"}
	case "none", "sockets":
		return nil
	}
	return []string{name}
}

func (s *Server) openFabrics() error {
	explicit := s.self.Provider != "" && s.self.Provider != "auto"
	iface := s.self.Interface
	if iface == "" {
		host, _, _ := net.SplitHostPort(s.self.Address)
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			iface = host
		}
	}
	// Opening a provider takes up to a second or two here (libfabric
	// probes every provider it knows), so open them side by side.
	provs := providersFor(s.self.Provider, s.defaultStrategy)
	opened := make([]*fabric, len(provs))
	errs := make([]error, len(provs))
	var wg sync.WaitGroup
	for i, prov := range provs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opened[i], errs[i] = openFabric(prov, iface, s.self.PoolBytes, s.self.ChunkSize)
		}()
	}
	wg.Wait()
	for i, prov := range provs {
		if errs[i] != nil {
			if explicit {
				for _, f := range opened {
					if f != nil {
						f.close()
					}
				}
				return errs[i]
			}
			s.log.Warn("fabric not available; its clients use sockets", "provider", prov, "err", errs[i])
			continue
		}
		f := opened[i]
		s.fabrics = append(s.fabrics, f)
		s.log.Info("fabric open", "provider", f.ep.Provider(), "info", f.ep.Info().String(),
			"pool", s.self.PoolBytes, "chunk", s.self.ChunkSize, "depth", s.self.PipelineDepth)
	}
	return nil
}

func openFabric(prov, iface string, poolBytes, chunk int64) (*fabric, error) {
	ep, err := verbs.Open(verbs.Config{Provider: prov, Interface: iface})
	if err != nil {
		return nil, fmt.Errorf("open fabric %s: %w", prov, err)
	}
	p, err := newPool(ep, poolBytes, chunk)
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("fabric %s: %w", prov, err)
	}
	return &fabric{ep: ep, pool: p}, nil
}

func (f *fabric) close() {
	f.pool.close()
	f.ep.Close()
}

func (s *Server) fabric(provider string) *fabric {
	for _, f := range s.fabrics {
		if f.ep.Provider() == provider {
			return f
		}
	}
	return nil
}

func (s *Server) closeFabrics() {
	for _, f := range s.fabrics {
		f.close()
	}
	s.fabrics = nil
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
	mr, err := ep.RegisterBytes(mem, verbs.AccessLocal|verbs.AccessRemoteRead|verbs.AccessRemoteWrite)
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

// tryGet takes a free buffer if there is one.
func (p *pool) tryGet() (slot, bool) {
	select {
	case i := <-p.free:
		return slot{idx: i, buf: p.mem[i*p.chunk : (i+1)*p.chunk]}, true
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
		return slot{idx: i, buf: p.mem[i*p.chunk : (i+1)*p.chunk]}, nil
	case <-t.C:
		return slot{}, fmt.Errorf("%w within %v (%d buffers of %d bytes, all in use): %w", errPoolTimeout, timeout, cap(p.free), p.chunk, unix.EBUSY)
	case <-ctx.Done():
		return slot{}, ctx.Err()
	}
}

func (p *pool) put(s slot) { p.free <- s.idx }

func (s slot) off(chunk int) uint64 { return uint64(s.idx * chunk) }

func (p *pool) close() {
	p.mr.Close()
	unix.Munmap(p.mem)
}
