package verbs

/*
#cgo pkg-config: libfabric
#cgo CFLAGS: -O2 -Wall
#include <stdlib.h>
#include <rdma/fabric.h>
#include <rdma/fi_errno.h>
#include "fabric.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const (
	numSlots      = 1024    // operation contexts: fabric ops in flight per endpoint
	defaultChunk  = 1 << 30 // largest single RMA we post, below max_msg_size
	pollTimeout   = 20 * time.Millisecond
	closeDrain    = 2 * time.Second // Close waits this long for in-flight ops
	eagainBackoff = 20 * time.Microsecond
)

// chunkLimit, when non-zero, caps the size of one posted RMA (tests).
var chunkLimit uint64

// Endpoint is one FI_EP_RDM endpoint with its fabric, domain, address
// vector and completion queue, and the goroutine that drives its progress.
type Endpoint struct {
	c        *C.fvb_ep
	info     Info
	addr     []byte
	virtAddr bool
	provKey  bool
	mrLocal  bool
	keyMask  uint64
	maxChunk uint64
	iovLimit int
	dc       bool

	postMu   sync.RWMutex // R: a C call uses c; W: Close tears c down
	closed   atomic.Bool  // no new operations or registrations
	stopping atomic.Bool  // progress is stopping; c is about to go away

	mu       sync.Mutex
	peers    map[string]Peer
	peerAddr map[Peer]string
	mrs      map[*MemoryRegion]struct{}
	nextKey  uint64
	slots    [numSlots]*Op
	inflight int

	free     chan uint32
	done     chan struct{} // progress goroutine exited
	drained  chan struct{} // signalled when inflight drops to 0 while closing
	closeErr error
	closeMu  sync.Mutex
}

// MemoryRegion is a registered window of memory that does not move.
type MemoryRegion struct {
	e      *Endpoint
	mr     unsafe.Pointer // C struct fid_mr*
	base   unsafe.Pointer
	n      int
	acc    Access
	key    uint64
	pinner *runtime.Pinner

	mu     sync.Mutex
	cond   *sync.Cond
	refs   int
	closed bool
}

// Op is an operation in flight (possibly several posted fabric ops: chunks
// of a large transfer or pieces of a scatter list).
type Op struct {
	e     *Endpoint
	kind  string
	peer  Peer
	bytes uint64
	mrs   []*MemoryRegion

	mu      sync.Mutex
	pending int // posted fabric ops not completed, +1 while posting
	err     error
	done    chan struct{}
	postErr error
	ctxErr  error
}

func cstr(b []C.char) string { return C.GoString(&b[0]) }

// Open opens an endpoint on the configured provider. "auto" tries shm, then
// networked providers from the best down; a provider that cannot be opened
// gives an error wrapping ErrNotSupported.
func Open(cfg Config) (*Endpoint, error) {
	prov, err := canonicalProvider(cfg.Provider)
	if err != nil {
		return nil, err
	}
	if prov != "auto" {
		return openProvider(prov, cfg.Interface)
	}
	var errs []error
	for _, p := range autoOrder {
		e, err := openProvider(p, cfg.Interface)
		if err == nil {
			return e, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("verbs: auto: no provider could be opened: %w", errors.Join(errs...))
}

// ProbeInfo opens an endpoint, reports its Info and closes it (ferry ping).
func ProbeInfo(cfg Config) (Info, error) {
	e, err := Open(cfg)
	if err != nil {
		return Info{}, err
	}
	info := e.Info()
	return info, e.Close()
}

// LibfabricVersion reports the version of the libfabric library in use.
func LibfabricVersion() string {
	v := uint32(C.fi_version())
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
		// Maybe a host name.
		addrs, herr := net.LookupHost(iface)
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

func openProvider(prov, iface string) (*Endpoint, error) {
	var node *C.char
	useSource := C.int(0)
	if usesNode(prov) {
		n, err := resolveNode(iface)
		if err != nil {
			return nil, fmt.Errorf("verbs: open %s: %w: %v", prov, ErrNotSupported, err)
		}
		node = C.CString(n)
		defer C.free(unsafe.Pointer(node))
		useSource = 1
	}
	// shm's CMA fast path: the initiator copies with process_vm_writev
	// inside the post call and completes after the copy, so the
	// completion already means delivery. FI_DELIVERY_COMPLETE (as an op
	// flag or a default tx flag) would force shm's slow path.
	initiatorCopy := initiatorCopies(prov) && C.fvb_cma_available() != 0 && !envTrue("FI_SHM_DISABLE_CMA")
	wantDC := C.int(1)
	if initiatorCopy {
		wantDC = 0
	}
	cprov := C.CString(prov)
	defer C.free(unsafe.Pointer(cprov))
	var errbuf [C.FERRY_ERRLEN]C.char
	var cep *C.fvb_ep
	rc := C.fvb_open(cprov, node, nil, useSource, wantDC, numSlots, &cep, &errbuf[0], C.FERRY_ERRLEN)
	if rc != 0 {
		where := ""
		if node != nil {
			where = " on " + C.GoString(node)
		}
		return nil, fmt.Errorf("verbs: open %s%s: %w: %s", prov, where, ErrNotSupported, cstr(errbuf[:]))
	}
	var ci C.fvb_info
	C.fvb_get_info(cep, &ci)
	e := &Endpoint{
		c:        cep,
		peers:    map[string]Peer{},
		peerAddr: map[Peer]string{},
		mrs:      map[*MemoryRegion]struct{}{},
		nextKey:  1,
		free:     make(chan uint32, numSlots),
		done:     make(chan struct{}),
		drained:  make(chan struct{}, 1),
	}
	mode := uint64(ci.mr_mode)
	e.info = Info{
		Provider:         cstr(ci.prov[:]),
		Fabric:           cstr(ci.fabric[:]),
		Domain:           cstr(ci.domain[:]),
		DeliveryComplete: ci.delivery_complete != 0,
		Version:          LibfabricVersion(),
		MaxMsgSize:       uint64(ci.max_msg_size),
		IOVLimit:         int(ci.iov_limit),
		KeySize:          int(ci.mr_key_size),
	}
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
	e.iovLimit = e.info.IOVLimit
	if e.iovLimit <= 0 {
		e.iovLimit = 1
	}
	if e.iovLimit > C.FERRY_MAX_IOV {
		e.iovLimit = C.FERRY_MAX_IOV
	}
	for i := uint32(0); i < numSlots; i++ {
		e.free <- i
	}
	var name [C.FERRY_ADDRLEN]byte
	nlen := C.size_t(len(name))
	if rc := C.fvb_getname(cep, unsafe.Pointer(&name[0]), &nlen); rc != 0 {
		C.fvb_close(cep, nil, 0)
		return nil, fmt.Errorf("verbs: open %s: fi_getname: %w: %s", prov, ErrNotSupported, C.GoString(C.fvb_strerror(rc)))
	}
	e.addr = append([]byte(nil), name[:nlen]...)
	go e.progress()
	return e, nil
}

// progress drives the completion queue until Close stops it.
func (e *Endpoint) progress() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(e.done)
	comps := (*[C.FERRY_POLL_BATCH]C.fvb_comp)(C.malloc(C.size_t(unsafe.Sizeof(C.fvb_comp{})) * C.FERRY_POLL_BATCH))
	defer C.free(unsafe.Pointer(comps))
	errbuf := (*[C.FERRY_ERRLEN]C.char)(C.malloc(C.FERRY_ERRLEN))
	defer C.free(unsafe.Pointer(errbuf))
	for {
		n := int(C.fvb_poll(e.c, &comps[0], C.FERRY_POLL_BATCH, C.int64_t(pollTimeout), &errbuf[0], C.FERRY_ERRLEN))
		if n < 0 {
			// CQ failure: nothing sensible to do but keep trying
			// unless we are closing.
			if e.stopping.Load() {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if n > 0 {
			e.completeAll(comps[:n], cstr(errbuf[:]))
		}
		if n == 0 && e.stopping.Load() {
			return // Close called fvb_stop after draining
		}
	}
}

// completeAll dispatches completions; only the last may be an error, whose
// provider message is provMsg.
func (e *Endpoint) completeAll(comps []C.fvb_comp, provMsg string) {
	for _, c := range comps {
		msg := ""
		if c.err != 0 {
			msg = fmt.Sprintf("%s: %s", C.GoString(C.fvb_strerror(C.int(c.err))), provMsg)
		}
		e.complete(uint64(c.slot), int(c.err), int(c.prov_errno), msg)
	}
}

func (e *Endpoint) complete(slot uint64, errno, provErrno int, msg string) {
	if slot >= numSlots {
		return // not ours (should not happen)
	}
	e.mu.Lock()
	op := e.slots[slot]
	e.slots[slot] = nil
	if op != nil {
		e.inflight--
		if e.inflight == 0 && e.closed.Load() {
			select {
			case e.drained <- struct{}{}:
			default:
			}
		}
	}
	e.mu.Unlock()
	if op == nil {
		return
	}
	e.free <- uint32(slot)
	var err error
	if errno != 0 {
		err = &OpError{Op: op.kind, Peer: op.peer, PeerAddr: e.peerString(op.peer), Provider: e.info.Provider,
			Bytes: op.bytes, Errno: errno, ProvErrno: provErrno, Msg: msg}
	}
	op.finish(err)
}

func (e *Endpoint) peerString(p Peer) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.peerAddr[p]; ok {
		return s
	}
	return "unknown"
}

// finish records one fabric op's completion.
func (op *Op) finish(err error) {
	op.mu.Lock()
	if err != nil && op.err == nil {
		op.err = err
	}
	op.pending--
	last := op.pending == 0
	op.mu.Unlock()
	if last {
		for _, m := range op.mrs {
			m.release()
		}
		close(op.done)
	}
}

// Info describes the endpoint.
func (e *Endpoint) Info() Info {
	i := e.info
	i.MRMode = append([]string(nil), i.MRMode...)
	return i
}

// Provider is the canonical provider name, e.g. "shm" or "tcp;ofi_rxm".
func (e *Endpoint) Provider() string { return e.info.Provider }

// Address is the endpoint's opaque address blob, to hand to peers.
func (e *Endpoint) Address() []byte { return append([]byte(nil), e.addr...) }

// Connect inserts a peer's address into the address vector. The same blob
// twice returns the same Peer.
func (e *Endpoint) Connect(addr []byte) (Peer, error) {
	if len(addr) == 0 || len(addr) > C.FERRY_ADDRLEN {
		return 0, fmt.Errorf("verbs: connect: bad address length %d", len(addr))
	}
	e.postMu.RLock()
	defer e.postMu.RUnlock()
	if e.closed.Load() {
		return 0, fmt.Errorf("verbs: connect: endpoint %w", ErrClosed)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.peers[string(addr)]; ok {
		return p, nil
	}
	ca := C.CBytes(addr)
	defer C.free(ca)
	var fa C.uint64_t
	var errbuf [C.FERRY_ERRLEN]C.char
	if rc := C.fvb_av_insert(e.c, ca, C.size_t(len(addr)), &fa, &errbuf[0], C.FERRY_ERRLEN); rc != 0 {
		return 0, fmt.Errorf("verbs: connect on %s: %s", e.info.Provider, cstr(errbuf[:]))
	}
	var sbuf [C.FERRY_ADDRLEN]C.char
	s := fmt.Sprintf("%x", addr)
	if C.fvb_straddr(e.c, ca, &sbuf[0], C.FERRY_ADDRLEN) == 0 {
		s = cstr(sbuf[:])
	}
	p := Peer(fa)
	e.peers[string(addr)] = p
	e.peerAddr[p] = s
	return p, nil
}

// UnattributedErrors counts error completions the provider reported without
// an operation context (target-side errors on some providers).
func (e *Endpoint) UnattributedErrors() uint64 {
	e.postMu.RLock()
	defer e.postMu.RUnlock()
	if e.c == nil {
		return 0
	}
	return uint64(C.fvb_unattributed(e.c))
}

func accessFlags(a Access) C.uint64_t {
	var f C.uint64_t
	if a&AccessLocal != 0 {
		f |= C.FI_READ | C.FI_WRITE
	}
	if a&AccessRemoteRead != 0 {
		f |= C.FI_REMOTE_READ
	}
	if a&AccessRemoteWrite != 0 {
		f |= C.FI_REMOTE_WRITE
	}
	return f
}

// Register registers n bytes at p. The memory must not move while the
// region is open: C memory, mmap'ed memory, or pinned Go memory (see
// RegisterBytes).
func (e *Endpoint) Register(p unsafe.Pointer, n int, acc Access) (*MemoryRegion, error) {
	return e.register(p, n, acc, nil)
}

// RegisterBytes registers a Go byte slice, pinning it with a
// runtime.Pinner until the region is closed.
func (e *Endpoint) RegisterBytes(b []byte, acc Access) (*MemoryRegion, error) {
	if len(b) == 0 {
		return nil, errors.New("verbs: register: empty buffer")
	}
	pin := new(runtime.Pinner)
	pin.Pin(&b[0])
	m, err := e.register(unsafe.Pointer(&b[0]), len(b), acc, pin)
	if err != nil {
		pin.Unpin()
	}
	return m, err
}

func (e *Endpoint) register(p unsafe.Pointer, n int, acc Access, pin *runtime.Pinner) (*MemoryRegion, error) {
	if p == nil || n <= 0 {
		return nil, fmt.Errorf("verbs: register: bad buffer %p len %d", p, n)
	}
	if acc&(AccessLocal|AccessRemoteRead|AccessRemoteWrite) == 0 {
		return nil, errors.New("verbs: register: no access requested")
	}
	e.postMu.RLock()
	defer e.postMu.RUnlock()
	if e.closed.Load() {
		return nil, fmt.Errorf("verbs: register: endpoint %w", ErrClosed)
	}
	var errbuf [C.FERRY_ERRLEN]C.char
	for attempt := 0; ; attempt++ {
		var key uint64
		if !e.provKey {
			e.mu.Lock()
			key = e.nextKey & e.keyMask
			e.nextKey++
			e.mu.Unlock()
		}
		var mr unsafe.Pointer
		var got C.uint64_t
		rc := C.fvb_mr_reg(e.c, C.uint64_t(uintptr(p)), C.uint64_t(n), accessFlags(acc), C.uint64_t(key),
			&mr, &got, &errbuf[0], C.FERRY_ERRLEN)
		if rc == -C.FI_ENOKEY && !e.provKey && attempt < 16 {
			continue // key in use; take the next one
		}
		if rc != 0 {
			return nil, fmt.Errorf("verbs: register %d bytes (%s) on %s: %s", n, acc, e.info.Provider, cstr(errbuf[:]))
		}
		m := &MemoryRegion{e: e, mr: mr, base: p, n: n, acc: acc, key: uint64(got), pinner: pin}
		m.cond = sync.NewCond(&m.mu)
		e.mu.Lock()
		e.mrs[m] = struct{}{}
		e.mu.Unlock()
		return m, nil
	}
}

// Len is the registered length.
func (m *MemoryRegion) Len() int { return m.n }

// Base is the start of the registered memory.
func (m *MemoryRegion) Base() unsafe.Pointer { return m.base }

// Key is the region's key (provider-chosen or ours).
func (m *MemoryRegion) Key() uint64 { return m.key }

// Access is the access the region was registered with.
func (m *MemoryRegion) Access() Access { return m.acc }

// Remote describes the window [off, off+n) as a peer must address it.
func (m *MemoryRegion) Remote(off, n uint64) (RemoteBuffer, error) {
	end, ok := addLen(off, n)
	if !ok || end > uint64(m.n) {
		return RemoteBuffer{}, fmt.Errorf("verbs: remote window [%d, %d+%d) of a %d-byte region: %w", off, off, n, m.n, ErrRange)
	}
	if m.acc&(AccessRemoteRead|AccessRemoteWrite) == 0 {
		return RemoteBuffer{}, errors.New("verbs: remote window of a region registered without remote access")
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return RemoteBuffer{}, fmt.Errorf("verbs: remote window: region %w", ErrClosed)
	}
	addr := off
	if m.e.virtAddr {
		addr = uint64(uintptr(m.base)) + off
	}
	return RemoteBuffer{Addr: addr, Key: m.key, Len: n}, nil
}

func (m *MemoryRegion) acquire() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("verbs: region %w", ErrClosed)
	}
	m.refs++
	return nil
}

func (m *MemoryRegion) release() {
	m.mu.Lock()
	m.refs--
	if m.refs == 0 {
		m.cond.Broadcast()
	}
	m.mu.Unlock()
}

// Close deregisters the region, after operations using it as local memory
// have completed. It is idempotent.
func (m *MemoryRegion) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for m.refs > 0 {
		m.cond.Wait()
	}
	m.mu.Unlock()
	e := m.e
	e.postMu.RLock()
	defer e.postMu.RUnlock()
	e.mu.Lock()
	_, live := e.mrs[m]
	delete(e.mrs, m)
	e.mu.Unlock()
	if !live {
		return nil // closed by Endpoint.Close
	}
	return m.dereg()
}

func (m *MemoryRegion) dereg() error {
	rc := C.fvb_mr_close(m.mr)
	m.mr = nil
	if m.pinner != nil {
		m.pinner.Unpin()
		m.pinner = nil
	}
	if rc != 0 {
		return fmt.Errorf("verbs: deregister: %s", C.GoString(C.fvb_strerror(rc)))
	}
	return nil
}

// chunk is one posted fabric op.
type chunk struct {
	laddr [C.FERRY_MAX_IOV]C.uint64_t
	llen  [C.FERRY_MAX_IOV]C.uint64_t
	lmr   [C.FERRY_MAX_IOV]unsafe.Pointer
	n     int
	raddr uint64
	bytes uint64
}

// plan splits segments against a contiguous remote range into chunks of at
// most maxChunk bytes and iovLimit segments.
func (e *Endpoint) plan(segs []Segment, raddr uint64) []chunk {
	max := e.maxChunk
	if chunkLimit != 0 && chunkLimit < max {
		max = chunkLimit
	}
	var out []chunk
	var cur chunk
	cur.raddr = raddr
	for _, s := range segs {
		off, left := s.Off, s.Len
		for left > 0 {
			if cur.n == e.iovLimit || cur.bytes == max {
				out = append(out, cur)
				raddr += cur.bytes
				cur = chunk{raddr: raddr}
			}
			take := left
			if room := max - cur.bytes; take > room {
				take = room
			}
			cur.laddr[cur.n] = C.uint64_t(uintptr(s.MR.base) + uintptr(off))
			cur.llen[cur.n] = C.uint64_t(take)
			cur.lmr[cur.n] = s.MR.mr
			cur.n++
			cur.bytes += take
			off += take
			left -= take
		}
	}
	if cur.n > 0 {
		out = append(out, cur)
	}
	return out
}

// WriteAsync starts Write and returns its Op.
func (e *Endpoint) WriteAsync(ctx context.Context, peer Peer, local *MemoryRegion, off, n uint64, dst RemoteBuffer, dstOff uint64) (*Op, error) {
	return e.WriteVAsync(ctx, peer, []Segment{{MR: local, Off: off, Len: n}}, dst, dstOff)
}

// ReadAsync starts Read and returns its Op.
func (e *Endpoint) ReadAsync(ctx context.Context, peer Peer, local *MemoryRegion, off, n uint64, src RemoteBuffer, srcOff uint64) (*Op, error) {
	return e.ReadVAsync(ctx, peer, []Segment{{MR: local, Off: off, Len: n}}, src, srcOff)
}

// Write copies local[off:off+n] into dst at dstOff and returns after
// delivery completion.
func (e *Endpoint) Write(ctx context.Context, peer Peer, local *MemoryRegion, off uint64, n uint64, dst RemoteBuffer, dstOff uint64) error {
	op, err := e.WriteAsync(ctx, peer, local, off, n, dst, dstOff)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}

// Read copies src[srcOff:srcOff+n] into local[off:off+n].
func (e *Endpoint) Read(ctx context.Context, peer Peer, local *MemoryRegion, off uint64, n uint64, src RemoteBuffer, srcOff uint64) error {
	op, err := e.ReadAsync(ctx, peer, local, off, n, src, srcOff)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}

// WriteV gathers the local segments, in order, into dst starting at dstOff.
func (e *Endpoint) WriteV(ctx context.Context, peer Peer, segs []Segment, dst RemoteBuffer, dstOff uint64) error {
	op, err := e.WriteVAsync(ctx, peer, segs, dst, dstOff)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}

// ReadV scatters src starting at srcOff into the local segments, in order.
func (e *Endpoint) ReadV(ctx context.Context, peer Peer, segs []Segment, src RemoteBuffer, srcOff uint64) error {
	op, err := e.ReadVAsync(ctx, peer, segs, src, srcOff)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}

// WriteVAsync starts WriteV.
func (e *Endpoint) WriteVAsync(ctx context.Context, peer Peer, segs []Segment, dst RemoteBuffer, dstOff uint64) (*Op, error) {
	return e.start(ctx, true, peer, segs, dst, dstOff)
}

// ReadVAsync starts ReadV.
func (e *Endpoint) ReadVAsync(ctx context.Context, peer Peer, segs []Segment, src RemoteBuffer, srcOff uint64) (*Op, error) {
	return e.start(ctx, false, peer, segs, src, srcOff)
}

func (e *Endpoint) start(ctx context.Context, write bool, peer Peer, segs []Segment, rb RemoteBuffer, roff uint64) (*Op, error) {
	kind := "read"
	if write {
		kind = "write"
	}
	if e.closed.Load() {
		return nil, fmt.Errorf("verbs: %s: endpoint %w", kind, ErrClosed)
	}
	var total uint64
	for i, s := range segs {
		if s.MR == nil {
			return nil, fmt.Errorf("verbs: %s: segment %d has no region", kind, i)
		}
		if s.MR.e != e {
			return nil, fmt.Errorf("verbs: %s: segment %d is registered on another endpoint", kind, i)
		}
		if s.MR.acc&AccessLocal == 0 && e.mrLocal {
			return nil, fmt.Errorf("verbs: %s: segment %d: region not registered with AccessLocal", kind, i)
		}
		end, ok := addLen(s.Off, s.Len)
		if !ok || end > uint64(s.MR.n) {
			return nil, fmt.Errorf("verbs: %s: local segment %d [%d, %d+%d) outside %d-byte region: %w", kind, i, s.Off, s.Off, s.Len, s.MR.n, ErrRange)
		}
		var ok2 bool
		if total, ok2 = addLen(total, s.Len); !ok2 {
			return nil, fmt.Errorf("verbs: %s: length overflow: %w", kind, ErrRange)
		}
	}
	rend, ok := addLen(roff, total)
	if !ok || rend > rb.Len {
		return nil, fmt.Errorf("verbs: %s of %d bytes at remote offset %d outside %d-byte window: %w", kind, total, roff, rb.Len, ErrRange)
	}
	op := &Op{e: e, kind: kind, peer: peer, bytes: total, done: make(chan struct{}), pending: 1}
	if total == 0 {
		op.pending = 0
		close(op.done)
		return op, nil
	}
	seen := map[*MemoryRegion]bool{}
	for _, s := range segs {
		if s.Len == 0 || seen[s.MR] {
			continue
		}
		if err := s.MR.acquire(); err != nil {
			for _, m := range op.mrs {
				m.release()
			}
			return nil, fmt.Errorf("verbs: %s: local %w", kind, err)
		}
		seen[s.MR] = true
		op.mrs = append(op.mrs, s.MR)
	}
	var flags C.uint64_t
	if write && e.dc {
		flags = C.FI_DELIVERY_COMPLETE
	}
	isWrite := C.int(0)
	if write {
		isWrite = 1
	}
	chunks := e.plan(segs, rb.Addr+roff)
	var perr error
	for i := range chunks {
		if perr = e.post(ctx, op, &chunks[i], isWrite, flags, peer, rb.Key); perr != nil {
			break
		}
	}
	op.mu.Lock()
	op.postErr = perr
	op.mu.Unlock()
	op.finish(nil) // drop the posting reference
	return op, nil
}

// post posts one chunk, waiting for a slot and retrying -FI_EAGAIN (while
// the progress goroutine makes progress) until ctx ends.
func (e *Endpoint) post(ctx context.Context, op *Op, ch *chunk, isWrite C.int, flags C.uint64_t, peer Peer, key uint64) error {
	var slot uint32
	select {
	case slot = <-e.free:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.done:
		return fmt.Errorf("endpoint %w", ErrClosed)
	}
	e.mu.Lock()
	e.slots[slot] = op
	e.inflight++
	e.mu.Unlock()
	op.mu.Lock()
	op.pending++
	op.mu.Unlock()
	unpost := func() {
		e.mu.Lock()
		e.slots[slot] = nil
		e.inflight--
		e.mu.Unlock()
		e.free <- slot
		op.mu.Lock()
		op.pending--
		op.mu.Unlock()
	}
	var timer *time.Timer
	backoff := eagainBackoff
	for {
		e.postMu.RLock()
		if e.closed.Load() && e.stopping.Load() {
			e.postMu.RUnlock()
			unpost()
			return fmt.Errorf("endpoint %w", ErrClosed)
		}
		var comps [8]C.fvb_comp
		var ncomp C.int
		var errbuf [C.FERRY_ERRLEN]C.char
		rc := C.fvb_rma(e.c, isWrite, flags, C.uint64_t(peer), &ch.laddr[0], &ch.llen[0], &ch.lmr[0],
			C.uint32_t(ch.n), C.uint64_t(ch.raddr), C.uint64_t(key), C.uint64_t(slot),
			&comps[0], C.int(len(comps)), &ncomp, &errbuf[0], C.FERRY_ERRLEN)
		e.postMu.RUnlock()
		if rc == 0 {
			e.completeAll(comps[:ncomp], cstr(errbuf[:]))
			return nil
		}
		if rc != -C.FI_EAGAIN {
			unpost()
			return &OpError{Op: op.kind, Peer: peer, PeerAddr: e.peerString(peer), Provider: e.info.Provider,
				Bytes: op.bytes, Errno: int(-rc), Msg: "post: " + C.GoString(C.fvb_strerror(rc))}
		}
		if timer == nil {
			timer = time.NewTimer(backoff)
			defer timer.Stop()
		} else {
			timer.Reset(backoff)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			unpost()
			return ctx.Err()
		case <-e.done:
			unpost()
			return fmt.Errorf("endpoint %w", ErrClosed)
		}
		if backoff < time.Millisecond {
			backoff *= 2
		}
	}
}

// Done is closed when every posted piece of the operation has completed.
func (op *Op) Done() <-chan struct{} { return op.done }

// Err is the operation's result once Done is closed.
func (op *Op) Err() error {
	select {
	case <-op.done:
	default:
		return errors.New("verbs: operation in flight")
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.err != nil {
		return op.err
	}
	if op.postErr != nil {
		var oe *OpError
		if errors.As(op.postErr, &oe) {
			return oe
		}
		return &OpError{Op: op.kind, Peer: op.peer, PeerAddr: op.e.peerString(op.peer), Provider: op.e.info.Provider,
			Bytes: op.bytes, Err: op.postErr}
	}
	if op.ctxErr != nil {
		return &OpError{Op: op.kind, Peer: op.peer, PeerAddr: op.e.peerString(op.peer), Provider: op.e.info.Provider,
			Bytes: op.bytes, Msg: "completed after the context ended", Err: op.ctxErr}
	}
	return nil
}

// Wait waits for the operation's completion. If ctx ends first, Wait still
// waits for the completion (the provider may touch the buffer until then)
// and returns an error wrapping ctx.Err(); Close the endpoint to abandon
// operations that never complete.
func (op *Op) Wait(ctx context.Context) error {
	select {
	case <-op.done:
		return op.Err()
	default:
	}
	select {
	case <-op.done:
	case <-ctx.Done():
		<-op.done
		op.mu.Lock()
		if op.err == nil && op.postErr == nil {
			op.ctxErr = ctx.Err()
		}
		op.mu.Unlock()
	}
	return op.Err()
}

// Close waits briefly for operations in flight, stops the progress
// goroutine and closes every libfabric object, including regions still
// registered. Operations still outstanding fail with ErrClosed. Idempotent.
func (e *Endpoint) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed.Swap(true) {
		return e.closeErr
	}
	// Let in-flight operations finish while progress still runs.
	e.mu.Lock()
	n := e.inflight
	e.mu.Unlock()
	if n > 0 {
		select {
		case <-e.drained:
		case <-time.After(closeDrain):
		}
	}
	e.stopping.Store(true)
	e.postMu.Lock()
	C.fvb_stop(e.c)
	<-e.done
	var errbuf [C.FERRY_ERRLEN]C.char
	var errs []error
	if rc := C.fvb_close_endpoint(e.c, &errbuf[0], C.FERRY_ERRLEN); rc != 0 {
		errs = append(errs, fmt.Errorf("verbs: close %s: %s", e.info.Provider, cstr(errbuf[:])))
	}
	// The provider can no longer touch memory: fail what is left.
	e.mu.Lock()
	var orphans []*Op
	for i, op := range e.slots {
		if op != nil {
			orphans = append(orphans, op)
			e.slots[i] = nil
		}
	}
	e.inflight = 0
	mrs := e.mrs
	e.mrs = map[*MemoryRegion]struct{}{}
	e.mu.Unlock()
	for _, op := range orphans {
		op.finish(&OpError{Op: op.kind, Peer: op.peer, PeerAddr: e.peerAddr[op.peer], Provider: e.info.Provider,
			Bytes: op.bytes, Msg: "endpoint closed with the operation in flight", Err: ErrClosed})
	}
	for m := range mrs {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		if err := m.dereg(); err != nil {
			errs = append(errs, err)
		}
	}
	if rc := C.fvb_close(e.c, &errbuf[0], C.FERRY_ERRLEN); rc != 0 {
		errs = append(errs, fmt.Errorf("verbs: close %s: %s", e.info.Provider, cstr(errbuf[:])))
	}
	e.c = nil
	e.postMu.Unlock()
	e.closeErr = errors.Join(errs...)
	return e.closeErr
}
