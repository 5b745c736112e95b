package data

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ferry-hpc/ferry/verbs"
)

// Fabric is one of the server's fabric endpoints and its pool of
// registered bounce buffers.
type Fabric struct {
	ep   *verbs.Endpoint
	pool *pool

	// peerMu guards the maps, never a call into verbs: an address
	// vector change waits for the endpoint's owner thread, and hellos
	// of many clients at once must not queue behind one another's.
	// Changes for one address are serialized by addrLocks instead (held
	// exclusive, keyed by the address), so that an insert never
	// overtakes the remove of the same address (which would take the new
	// entry out of the address vector with the old).
	peerMu    sync.Mutex
	peerRefs  map[verbs.Peer]int      // connections holding each peer
	peerAddr  map[verbs.Peer]string   // each held peer's address
	addrLocks fileLocks               // by address: Connect, Release and drop
	reached   map[verbs.Peer]struct{} // peers a first contact (reach) has answered
	contacts  atomic.Int64            // first contacts made
	dropped   atomic.Int64

	// probe is a page registered for first contacts where the provider
	// needs them (verbs.Info.TargetConnects), nil elsewhere.
	probe    *verbs.MemoryRegion
	probeMem []byte

	// pins: registering memory on this provider pins it (FI_MR_ALLOCATED,
	// a NIC's), so registering a datafile mapping reads all of it in.
	pins bool
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
	info := ep.Info()
	f := &Fabric{ep: ep, pool: p, pins: slices.Contains(info.MRMode, "FI_MR_ALLOCATED")}
	if info.TargetConnects {
		f.probeMem = make([]byte, 4096)
		if f.probe, err = register(ep, f.probeMem); err != nil {
			p.close()
			closeEndpoint(ep)
			return nil, fmt.Errorf("fabric %s: register first-contact page: %w", provider, err)
		}
	}
	return f, nil
}

// PoolStats reports how often a request found no bounce buffer free (or
// none within its client's share), and how many buffers the pool has.
func (f *Fabric) PoolStats() (waits, buffers int64) {
	return f.pool.waits.Load(), int64(f.pool.n)
}

// RegisteredBytes is the memory registered on the fabric's endpoint: the
// pool, spares and the page-cache mappings of the sendfile strategy.
func (f *Fabric) RegisteredBytes() int64 { return f.ep.RegisteredBytes() }

// Close deregisters the pool and closes the endpoint. The Service's
// mappings on it must be gone first (Service.Close).
func (f *Fabric) Close() {
	if f.probe != nil {
		deregister(f.probe)
	}
	f.pool.close()
	closeEndpoint(f.ep)
}
