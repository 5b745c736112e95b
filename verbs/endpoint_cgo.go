//go:build cgo

package verbs

/*
#cgo LDFLAGS: -ldl
#cgo CFLAGS: -O2 -Wall
#include <stdlib.h>
#include <rdma/fabric.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_domain.h>
#include "fabric.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const (
	numSlots     = 1024    // operation contexts: fabric ops in flight per endpoint
	defaultChunk = 1 << 30 // largest single RMA we post, below max_msg_size
	closeDrain   = 2 * time.Second
)

// chunkLimit, when non-zero, caps the size of one posted RMA (tests).
var chunkLimit uint64

// Endpoint is one FI_EP_RDM endpoint with its fabric, domain, address
// vector and completion queue, and its owner thread. Every libfabric call
// on them is made under the endpoint's turn lock, by the owner or by a
// caller that found the lock free (see doc.go).
type Endpoint struct {
	c        *C.fvb_ep // the turn lock's holder only, after Open returns
	info     Info
	addrs    [][]byte // by lane
	virtAddr bool
	provKey  bool
	mrLocal  bool
	keyMask  uint64
	maxChunk uint64
	iovLimit int
	dc       bool
	kickFD   int

	kickMu     sync.RWMutex // kickClosed, and kickFD's life
	kickClosed bool         // set at shutdown, before the eventfd is closed

	// Held for each turn (owner_cgo.go), by the owner or by a caller
	// that found it free: every libfabric call on the endpoint's
	// objects is made under it, so the provider (FI_THREAD_DOMAIN)
	// never sees two at once.
	turnMu sync.Mutex
	turns  *turnState // the turn lock's holder only; nil once closed
	// Turns taken by the owner and by callers, and calls (exec) run by
	// callers (tests look).
	ownerTurns, callerTurnsTaken, callerCalls atomic.Uint64

	// What goroutines hand the owner.
	qmu       sync.Mutex
	queue     []*post
	calls     []func()
	closing   bool
	sleeping  atomic.Bool            // the owner may be blocked: kick it
	expect    atomic.Int32           // callers expecting peers to move bytes to/from us
	expectOn  atomic.Bool            // an Expect began since the owner last looked
	settled   atomic.Uint32          // lanes a peer has reached (see SettleLane)
	busy      [MaxLanes]atomic.Int32 // per lane: RMAs of requests in flight (see LaneBusy)
	sinceLook [MaxLanes]atomic.Int32 // per lane: RMAs said since the owner last looked at it
	due       atomic.Uint32          // lanes to look at next turn: a busy spell ended

	mu       sync.Mutex
	peers    map[string]Peer
	peerAddr map[Peer]string // the peers in the address vector
	peerGen  uint64          // generation of the next Peer (see peerGenShift)
	mrs      map[*MemoryRegion]struct{}

	// The lock watchdog of shm lanes (shmlock.go); nil elsewhere.
	locks      []*laneLock // set at open, unmapped at close
	locksFreed atomic.Int64
	lockMu     sync.Mutex
	lockStop   chan struct{}
	lockDone   chan struct{}
	lockOff    bool // closed: no watchdog starts
	// Processes in the address vector, and those that left it in the last
	// peerGoneKeep (when), as candidate holders of our regions' locks.
	lockPeers map[int32]time.Time

	done     chan struct{} // the owner has exited
	closeErr error
	closeMu  sync.Mutex
	closed   bool
}

func cstr(b []C.char) string { return C.GoString(&b[0]) }

// Open opens an endpoint on the configured provider. "auto" tries the
// providers in preference order; a provider that cannot be opened gives an
// error wrapping ErrNotSupported.
func Open(cfg Config) (*Endpoint, error) {
	prov, err := CanonicalProvider(cfg.Provider)
	if err != nil {
		return nil, err
	}
	if cfg.Lanes < 0 || cfg.Lanes > MaxLanes {
		return nil, fmt.Errorf("verbs: %d lanes asked for, want 1..%d", cfg.Lanes, MaxLanes)
	}
	if prov != "auto" {
		return openInRange(prov, cfg)
	}
	var errs []error
	for _, p := range autoOrder {
		e, err := openInRange(p, cfg)
		if err == nil {
			return e, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("verbs: auto: no provider could be opened: %w", errors.Join(errs...))
}

// LibfabricVersion reports the version of the libfabric library in use.
func LibfabricVersion() string {
	if err := loadFabric(); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	v := uint32(C.fvb_fi_version())
	return fmt.Sprintf("%d.%d", v>>16, v&0xffff)
}

func resolveNode(iface string) (string, error) {
	if iface == "" {
		iface = DefaultInterface
	}
	if ip := net.ParseIP(iface); ip != nil {
		return iface, nil
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		addrs, herr := net.LookupHost(iface) // maybe a host name
		if herr != nil || len(addrs) == 0 {
			return "", fmt.Errorf("verbs: interface %q: %v", iface, err)
		}
		return addrs[0], nil
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", fmt.Errorf("verbs: interface %q: %v", iface, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("verbs: interface %q has no address", iface)
}

var mrModeNames = []struct {
	bit  uint64
	name string
}{
	{C.FI_MR_LOCAL, "FI_MR_LOCAL"}, {C.FI_MR_RAW, "FI_MR_RAW"}, {C.FI_MR_VIRT_ADDR, "FI_MR_VIRT_ADDR"},
	{C.FI_MR_ALLOCATED, "FI_MR_ALLOCATED"}, {C.FI_MR_PROV_KEY, "FI_MR_PROV_KEY"}, {C.FI_MR_MMU_NOTIFY, "FI_MR_MMU_NOTIFY"},
	{C.FI_MR_RMA_EVENT, "FI_MR_RMA_EVENT"}, {C.FI_MR_ENDPOINT, "FI_MR_ENDPOINT"}, {C.FI_MR_HMEM, "FI_MR_HMEM"},
}

var threadingNames = map[C.uint32_t]string{
	C.FI_THREAD_SAFE: "safe", C.FI_THREAD_FID: "fid", C.FI_THREAD_DOMAIN: "domain",
	C.FI_THREAD_COMPLETION: "completion", C.FI_THREAD_ENDPOINT: "endpoint",
}

// shmCMADisabled reports libfabric's own switch that takes shm off its CMA
// path (the provider reads the same variable).
func shmCMADisabled() bool {
	switch strings.ToLower(os.Getenv("FI_SHM_DISABLE_CMA")) {
	case "1", "true", "yes", "on", "y":
		return true
	}
	return false
}

// openInRange opens prov on the first free port of cfg.Ports (any port
// when the range is zero or the provider takes no port).
func openInRange(prov string, cfg Config) (*Endpoint, error) {
	if !usesNode(prov) || cfg.Ports.Lo == 0 {
		e, _, err := openProvider(prov, cfg, 0)
		return e, err
	}
	for port := cfg.Ports.Lo; ; port++ {
		e, inUse, err := openProvider(prov, cfg, port)
		if !inUse || port >= cfg.Ports.Hi {
			if inUse {
				err = fmt.Errorf("verbs: open %s: every port of %s is in use: %w", prov, cfg.Ports, err)
			}
			return e, err
		}
	}
}

// openProvider opens one endpoint; inUse reports that the port asked for
// is taken (so the next one may be tried).
func openProvider(prov string, cfg Config, port int) (e *Endpoint, inUse bool, err error) {
	if err := loadFabric(); err != nil {
		return nil, false, fmt.Errorf("verbs: open %s: %w", prov, err)
	}
	var node, service *C.char
	useSource := C.int(0)
	if usesNode(prov) {
		n, err := resolveNode(cfg.Interface)
		if err != nil {
			return nil, false, fmt.Errorf("verbs: open %s: %w: %v", prov, ErrNotSupported, err)
		}
		node = C.CString(n)
		defer C.free(unsafe.Pointer(node))
		useSource = 1
		if port != 0 {
			service = C.CString(strconv.Itoa(port))
			defer C.free(unsafe.Pointer(service))
		}
	}
	// shm's CMA fast path: the initiator copies with process_vm_writev
	// inside the post call and completes after the copy, so the
	// completion already means delivery. FI_DELIVERY_COMPLETE (as an op
	// flag or a default tx flag) would force shm's slow path.
	if prov == "shm" {
		// Regions of this user's dead processes would otherwise pile up,
		// 16 MiB each: a process killed before fi_close leaks its own.
		// Best effort: a region left here costs memory, not correctness.
		RemoveStaleShm(false)
	}
	initiatorCopy := initiatorCopies(prov) && C.fvb_cma_available() != 0 && !shmCMADisabled()
	wantDC := C.int(1)
	if initiatorCopy {
		wantDC = 0
	}
	cprov := C.CString(prov)
	defer C.free(unsafe.Pointer(cprov))
	var errbuf [C.FERRY_ERRLEN]C.char
	var cep *C.fvb_ep
	rc := C.fvb_open(cprov, node, service, useSource, wantDC, numSlots, C.int(max(cfg.Lanes, 1)), &cep, &errbuf[0], C.FERRY_ERRLEN)
	if rc != 0 {
		where := ""
		if node != nil {
			where = " on " + C.GoString(node)
		}
		if service != nil {
			where += " port " + C.GoString(service)
		}
		if rc == -C.FI_EADDRINUSE {
			return nil, true, fmt.Errorf("verbs: open %s%s: %s", prov, where, cstr(errbuf[:]))
		}
		return nil, false, fmt.Errorf("verbs: open %s%s: %w: %s", prov, where, ErrNotSupported, cstr(errbuf[:]))
	}
	var ci C.fvb_info
	C.fvb_get_info(cep, &ci)
	e = &Endpoint{
		c:        cep,
		peers:    map[string]Peer{},
		peerAddr: map[Peer]string{},
		mrs:      map[*MemoryRegion]struct{}{},
		done:     make(chan struct{}),
		kickFD:   int(C.fvb_kickfd(cep)),
	}
	mode := uint64(ci.mr_mode)
	e.info = Info{
		Provider:         cstr(ci.prov[:]),
		Fabric:           cstr(ci.fabric[:]),
		Domain:           cstr(ci.domain[:]),
		DeliveryComplete: ci.delivery_complete != 0,
		Version:          LibfabricVersion(),
		Stubbed:          StubbedLibraries(),
		MaxMsgSize:       uint64(ci.max_msg_size),
		IOVLimit:         int(ci.iov_limit),
		KeySize:          int(ci.mr_key_size),
		Threading:        threadingNames[ci.threading],
		WaitFD:           ci.wait_fd != 0,
		Lanes:            int(ci.lanes),
	}
	// shm's first RMA to a peer sends a connection request that the
	// peer's owner must read (the posts return -FI_EAGAIN until then).
	e.info.TargetConnects = e.info.Provider == "shm"

	for _, m := range mrModeNames {
		if mode&m.bit != 0 {
			e.info.MRMode = append(e.info.MRMode, m.name)
		}
	}
	e.virtAddr = mode&C.FI_MR_VIRT_ADDR != 0
	e.provKey = mode&C.FI_MR_PROV_KEY != 0
	e.mrLocal = mode&C.FI_MR_LOCAL != 0
	e.dc = e.info.DeliveryComplete
	e.info.RemoteChecks = true
	switch {
	case initiatorCopy:
		C.fvb_set_drain(cep, 1)
		e.dc = false
		e.info.DeliveryComplete = true
		e.info.DeliveryMode = "initiator copy (shm CMA: completion after process_vm_writev into the target)"
		e.info.RemoteChecks = false
	case e.dc:
		e.info.DeliveryMode = "FI_DELIVERY_COMPLETE"
	default:
		e.info.DeliveryMode = "transmit complete only"
	}
	e.keyMask = ^uint64(0)
	if ks := e.info.KeySize; ks > 0 && ks < 8 {
		e.keyMask = 1<<(8*uint(ks)) - 1
	}
	e.maxChunk = defaultChunk
	if m := e.info.MaxMsgSize; m > 0 && m < e.maxChunk {
		e.maxChunk = m
	}
	e.iovLimit = min(max(e.info.IOVLimit, 1), C.FERRY_MAX_IOV)
	for l := 0; l < e.info.Lanes; l++ {
		var name [C.FERRY_ADDRLEN]byte
		nlen := C.size_t(len(name))
		if rc := C.fvb_getname(cep, C.int(l), unsafe.Pointer(&name[0]), &nlen); rc != 0 {
			C.fvb_close(cep, nil, 0)
			return nil, false, fmt.Errorf("verbs: open %s: fi_getname: %w: %s", prov, ErrNotSupported, C.GoString(C.fvb_strerror(rc)))
		}
		e.addrs = append(e.addrs, append([]byte(nil), name[:nlen]...))
	}
	if e.info.Provider == "shm" {
		e.mapLaneLocks()
		for l, lk := range e.locks {
			C.fvb_set_lane_lock(cep, C.int(l), unsafe.Pointer(lk.word), C.int32_t(lk.unlocked), unsafe.Pointer(lk.signal))
		}
	}
	started := make(chan struct{})
	go e.own(started)
	<-started
	return e, false, nil
}

// Info describes the endpoint.
func (e *Endpoint) Info() Info {
	i := e.info
	i.MRMode = append([]string(nil), i.MRMode...)
	return i
}

// Provider is the canonical provider name, e.g. "shm" or "tcp;ofi_rxm".
func (e *Endpoint) Provider() string { return e.info.Provider }

// Address is the endpoint's opaque address blob (its first lane's), to
// hand to peers.
func (e *Endpoint) Address() []byte { return e.LaneAddress(0) }

// LaneAddress is the address of one lane; lanes beyond Info().Lanes wrap
// around, so a caller may give peer i LaneAddress(i) whatever the count.
func (e *Endpoint) LaneAddress(lane int) []byte {
	return append([]byte(nil), e.addrs[lane%len(e.addrs)]...)
}

// Connect inserts a peer's address into the first lane's address vector.
// The same blob twice returns the same Peer. The caller validates the
// address's format (see CheckAddress) before it reaches libfabric.
func (e *Endpoint) Connect(addr []byte) (Peer, error) {
	if err := CheckAddress(e.info.Provider, addr); err != nil {
		return 0, err
	}
	e.mu.Lock()
	if p, ok := e.peers[string(addr)]; ok {
		e.mu.Unlock()
		return p, nil
	}
	e.mu.Unlock()
	var (
		fa   C.uint64_t
		rc   C.int
		msg  string
		name string
	)
	err := e.exec(func() {
		ca := C.CBytes(addr)
		defer C.free(ca)
		var errbuf [C.FERRY_ERRLEN]C.char
		rc = C.fvb_av_insert(e.c, ca, C.size_t(len(addr)), &fa, &errbuf[0], C.FERRY_ERRLEN)
		if rc != 0 {
			msg = cstr(errbuf[:])
			return
		}
		var sbuf [C.FERRY_ADDRLEN]C.char
		if C.fvb_straddr(e.c, ca, &sbuf[0], C.FERRY_ADDRLEN) == 0 {
			name = cstr(sbuf[:])
		}
	})
	if err != nil {
		return 0, fmt.Errorf("verbs: connect: %w", err)
	}
	if rc != 0 {
		return 0, fmt.Errorf("verbs: connect on %s: %s", e.info.Provider, msg)
	}
	if name == "" {
		name = fmt.Sprintf("%x", addr)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.peers[string(addr)]; ok {
		return old, nil // a concurrent Connect of the same address won
	}
	if uint64(fa) > peerAddrMask {
		return 0, fmt.Errorf("verbs: connect on %s: address index %d past %d", e.info.Provider, uint64(fa), peerAddrMask)
	}
	e.peerGen++
	p := Peer(uint64(fa) | e.peerGen<<peerGenShift)
	e.peers[string(addr)] = p
	e.peerAddr[p] = name
	if e.info.Provider == "shm" {
		e.lockPeerJoined(addr)
	}
	return p, nil
}

// Disconnect removes a peer from the address vector, so a long-running
// server's table does not grow with every client that ever connected.
// Operations still queued for the peer fail, and so does any started
// later with this Peer value, even once the provider reuses its address
// index for another peer. Disconnecting a peer not connected is a no-op.
func (e *Endpoint) Disconnect(p Peer) error {
	e.mu.Lock()
	name, ok := e.peerAddr[p]
	if ok {
		delete(e.peerAddr, p)
		for k, v := range e.peers {
			if v == p {
				delete(e.peers, k)
				if e.info.Provider == "shm" {
					e.lockPeerLeft([]byte(k))
				}
			}
		}
	}
	e.mu.Unlock()
	if !ok {
		return nil
	}
	var rc C.int
	if err := e.exec(func() { rc = C.fvb_av_remove(e.c, C.uint64_t(p.index())) }); err != nil {
		return fmt.Errorf("verbs: disconnect %s: %w", name, err)
	}
	if rc != 0 {
		return fmt.Errorf("verbs: disconnect %s on %s: %s", name, e.info.Provider, C.GoString(C.fvb_strerror(rc)))
	}
	return nil
}

// Connected reports whether p is in the address vector.
func (e *Endpoint) Connected(p Peer) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.peerAddr[p]
	return ok
}

func (e *Endpoint) peerString(p Peer) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.peerAddr[p]; ok {
		return s
	}
	return "unknown"
}

// Close fails queued operations, waits briefly for posted ones, then closes
// every libfabric object, including regions still registered. Operations
// still outstanding fail with ErrClosed. Idempotent.
func (e *Endpoint) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return e.closeErr
	}
	e.closed = true
	e.qmu.Lock()
	e.closing = true
	e.qmu.Unlock()
	e.kick(true)
	<-e.done
	e.stopLockWatch() // only now: an owner stuck on a dead peer's lock needs it
	return e.closeErr
}
