package data

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

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
// writes (fi_read). last says the caller waits for its transfers next:
// the request's last piece is then posted by the caller itself when the
// endpoint's owner is idle (verbs.Endpoint.StartWaiting; on shm it is
// done when post returns), while earlier pieces go to the owner, which
// moves their bytes as the caller prepares the next piece.
func post(ctx context.Context, l Link, read bool, mr *verbs.MemoryRegion, off, n uint64, window proto.RemoteBuf, bufOff uint64, last bool) (*verbs.Op, error) {
	rb := verbs.RemoteBuffer{Addr: window.Addr, Key: window.Key, Len: window.Len}
	kind := verbs.Read
	if read {
		kind = verbs.Write
	}
	start := l.Fabric.ep.Start
	if last {
		start = l.Fabric.ep.StartWaiting
	}
	op, err := start(ctx, verbs.RMA{Kind: kind, Peer: l.Peer, Local: verbs.One(mr, off, n), Remote: rb, Off: bufOff})
	if err != nil {
		return nil, fmt.Errorf("rma: %w", err)
	}
	return op, nil
}

// ErrPeerDropped is wrapped by the error of a request whose client did
// not complete a transfer within the request's budget: the client has
// left the address vector and its connection must close.
var ErrPeerDropped = errors.New("client dropped: a transfer did not complete within the request's budget")

// dropGrace bounds the wait for a dropped client's transfers to fail,
// after which their memory is left to them (see pool.lose): providers
// need not fail transfers in flight when a peer leaves the address
// vector (tcp;ofi_rxm does not), and the request must not outlast its
// budget by much.
const dropGrace = 200 * time.Millisecond

// wait waits for a posted transfer to complete. When ctx ends first (the
// request's budget is over) the client is stopped, slow or gone: it is
// dropped from the address vector, which fails its transfers in flight
// and keeps any more from being posted, and the wait goes on at most
// dropGrace for the provider to let go of the memory.
func wait(ctx context.Context, l Link, op *verbs.Op) error {
	select {
	case <-op.Done():
		return op.Err()
	case <-ctx.Done():
		if settled(op) {
			return op.Err()
		}
	}
	l.Fabric.drop(l.Peer)
	t := time.NewTimer(dropGrace)
	defer t.Stop()
	select {
	case <-op.Done():
	case <-t.C:
	}
	return fmt.Errorf("%w: %w", ErrPeerDropped, unix.ETIMEDOUT)
}

// settled reports whether the provider is done with op's memory.
func settled(op *verbs.Op) bool {
	select {
	case <-op.Done():
		return true
	default:
		return false
	}
}

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
	unlock := f.addrLocks.lock(string(addr), true)
	defer unlock()
	p, err := f.ep.Connect(addr)
	if err != nil {
		return 0, err
	}
	f.peerMu.Lock()
	defer f.peerMu.Unlock()
	if f.peerRefs == nil {
		f.peerRefs = make(map[verbs.Peer]int)
		f.peerAddr = make(map[verbs.Peer]string)
	}
	f.peerRefs[p]++
	f.peerAddr[p] = string(addr)
	return p, nil
}

// Release drops one connection's hold on a peer; the last one takes the
// peer out of the address vector, so a server that runs for months does
// not fill its table with clients long gone.
func (f *Fabric) Release(p verbs.Peer) error {
	unlock := f.addrLocks.lock(f.addrOf(p), true)
	defer unlock()
	f.peerMu.Lock()
	f.peerRefs[p]--
	last := f.peerRefs[p] <= 0
	if last {
		delete(f.peerRefs, p)
		delete(f.peerAddr, p)
		delete(f.reached, p)
	}
	f.peerMu.Unlock()
	if !last {
		return nil
	}
	return f.ep.Disconnect(p)
}

// drop takes a client that stopped completing transfers out of the
// address vector. Its connection still holds the peer, and gives it back
// when it closes (Release); meanwhile nothing more is posted to it.
func (f *Fabric) drop(p verbs.Peer) {
	unlock := f.addrLocks.lock(f.addrOf(p), true)
	defer unlock()
	if f.ep.Connected(p) {
		f.dropped.Add(1)
		f.ep.Disconnect(p)
	}
	f.peerMu.Lock()
	delete(f.reached, p)
	f.peerMu.Unlock()
}

// reach makes a peer's first contact, where the provider needs the peer
// to answer one (shm: until the client's owner reads our connection
// request, posts to it return -FI_EAGAIN), with a one-byte read of the
// request's window into the probe page rather than with a pool buffer:
// among hundreds of clients on a few cores a client may take a while to
// answer, and a pool buffer held meanwhile is one that clients ready to
// move bytes cannot have. The read changes nothing on the client's side;
// shm checks no access rights, so it works on read and write windows
// alike. A peer that does not answer within the budget is dropped (wait).
func (f *Fabric) reach(ctx context.Context, l Link, window proto.RemoteBuf) error {
	if f.probe == nil || window.Len == 0 {
		return nil
	}
	f.peerMu.Lock()
	_, done := f.reached[l.Peer]
	f.peerMu.Unlock()
	if done {
		return nil
	}
	f.contacts.Add(1)
	op, err := post(ctx, l, false, f.probe, 0, 1, window, 0, true)
	if err != nil {
		return fmt.Errorf("first contact: %w", err)
	}
	if err := wait(ctx, l, op); err != nil {
		return fmt.Errorf("first contact: %w", err)
	}
	f.peerMu.Lock()
	if f.reached == nil {
		f.reached = make(map[verbs.Peer]struct{})
	}
	if _, held := f.peerRefs[l.Peer]; held && f.ep.Connected(l.Peer) {
		f.reached[l.Peer] = struct{}{}
	}
	f.peerMu.Unlock()
	return nil
}

func (f *Fabric) addrOf(p verbs.Peer) string {
	f.peerMu.Lock()
	defer f.peerMu.Unlock()
	return f.peerAddr[p]
}

// Usable reports whether p is still in the address vector (not dropped).
func (f *Fabric) Usable(p verbs.Peer) bool { return f.ep.Connected(p) }

// FirstContacts is how many first contacts (reach) were made: one per
// peer and connection where the provider needs them, none elsewhere.
func (f *Fabric) FirstContacts() int64 { return f.contacts.Load() }

// Dropped is how many clients were dropped for stalled transfers.
func (f *Fabric) Dropped() int64 { return f.dropped.Load() }

// Peers is the number of peers in the fabric's address vector.
func (f *Fabric) Peers() int {
	f.peerMu.Lock()
	defer f.peerMu.Unlock()
	return len(f.peerRefs)
}
