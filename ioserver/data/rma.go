package data

import (
	"context"
	"fmt"

	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// Every call this package makes into verbs is in this file, so a change
// of verbs' API (a request type for RMA, say) is a change here alone.
// A reply goes out only after every RMA reported completion, and verbs
// asks for delivery completion on writes, so "done" never overtakes the
// bytes.

func openEndpoint(provider, iface string, ports verbs.PortRange) (*verbs.Endpoint, error) {
	return verbs.Open(verbs.Config{Provider: provider, Interface: iface, Ports: ports})
}

func closeEndpoint(ep *verbs.Endpoint) { ep.Close() }

// register registers b for local use and for peers to read and write.
func register(ep *verbs.Endpoint, b []byte) (*verbs.MemoryRegion, error) {
	return ep.RegisterBytes(b, verbs.AccessLocal|verbs.AccessRemoteRead|verbs.AccessRemoteWrite)
}

func deregister(mr *verbs.MemoryRegion) { mr.Close() }

// post starts one transfer of n bytes between mr at off and the client's
// window at bufOff: into the window for reads (fi_write), out of it for
// writes (fi_read).
func post(ctx context.Context, l Link, read bool, mr *verbs.MemoryRegion, off, n uint64, window proto.RemoteBuf, bufOff uint64) (*verbs.Op, error) {
	rb := verbs.RemoteBuffer{Addr: window.Addr, Key: window.Key, Len: window.Len}
	kind := verbs.Read
	if read {
		kind = verbs.Write
	}
	op, err := l.Fabric.ep.Start(ctx, verbs.RMA{Kind: kind, Peer: l.Peer, Local: verbs.One(mr, off, n), Remote: rb, Off: bufOff})
	if err != nil {
		return nil, fmt.Errorf("rma: %w", err)
	}
	return op, nil
}

// wait waits for a posted transfer to complete. A cancelled ctx does not
// cut it short: the memory stays in use until the fabric is done with it.
func wait(ctx context.Context, op *verbs.Op) error { return op.Wait(context.WithoutCancel(ctx)) }

// Provider is the fabric's canonical provider name.
func (f *Fabric) Provider() string { return f.ep.Provider() }

// Address is the fabric's address, for the hello.
func (f *Fabric) Address() []byte { return f.ep.Address() }

// Info describes the fabric's endpoint, for the log.
func (f *Fabric) Info() string { return f.ep.Info().String() }

// Connect inserts a client's fabric address in the fabric's address
// vector; the peer it returns goes in that client's Links. Each Connect
// is matched by one Release when the connection that made it closes.
func (f *Fabric) Connect(addr []byte) (verbs.Peer, error) {
	f.peerMu.Lock()
	defer f.peerMu.Unlock()
	p, err := f.ep.Connect(addr)
	if err != nil {
		return 0, err
	}
	if f.peerRefs == nil {
		f.peerRefs = make(map[verbs.Peer]int)
	}
	f.peerRefs[p]++
	return p, nil
}

// Release drops one connection's hold on a peer; the last one takes the
// peer out of the address vector, so a server that runs for months does
// not fill its table with clients long gone.
func (f *Fabric) Release(p verbs.Peer) error {
	f.peerMu.Lock()
	defer f.peerMu.Unlock()
	f.peerRefs[p]--
	if f.peerRefs[p] > 0 {
		return nil
	}
	delete(f.peerRefs, p)
	return f.ep.Disconnect(p)
}

// Peers is the number of peers in the fabric's address vector.
func (f *Fabric) Peers() int {
	f.peerMu.Lock()
	defer f.peerMu.Unlock()
	return len(f.peerRefs)
}
