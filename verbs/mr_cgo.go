//go:build cgo

package verbs

/*
#include "fabric.h"
#include <rdma/fabric.h>
*/
import "C"

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

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

// randomKey is a fresh key for a region where the application chooses
// keys (providers without FI_MR_PROV_KEY, such as tcp;ofi_rxm): on such a
// provider the key is all that stands between a peer and the region, so
// it must not be guessable from another key the peer has seen.
func randomKey() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
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
	var (
		mr  unsafe.Pointer
		got C.uint64_t
		rc  C.int
		msg string
	)
	for attempt := 0; ; attempt++ {
		var key uint64
		if !e.provKey {
			key = randomKey() & e.keyMask
		}
		err := e.exec(func() {
			var errbuf [C.FERRY_ERRLEN]C.char
			rc = C.fvb_mr_reg(e.c, C.uint64_t(uintptr(p)), C.uint64_t(n), accessFlags(acc), C.uint64_t(key),
				&mr, &got, &errbuf[0], C.FERRY_ERRLEN)
			if rc != 0 {
				msg = cstr(errbuf[:])
			}
		})
		if err != nil {
			return nil, fmt.Errorf("verbs: register: %w", err)
		}
		if rc == -C.FI_ENOKEY && !e.provKey && attempt < 16 {
			continue // key in use; draw another
		}
		if rc != 0 {
			return nil, fmt.Errorf("verbs: register %d bytes (%s) on %s: %s", n, acc, e.info.Provider, msg)
		}
		break
	}
	m := &MemoryRegion{e: e, mr: mr, base: p, n: n, acc: acc, key: uint64(got), pinner: pin}
	m.cond = sync.NewCond(&m.mu)
	e.mu.Lock()
	e.mrs[m] = struct{}{}
	e.mu.Unlock()
	return m, nil
}

// Len is the registered length.
func (m *MemoryRegion) Len() int { return m.n }

// RegisteredBytes is the memory registered on the endpoint now, in bytes
// (regions not yet closed): what an operator watches against the
// provider's and the system's limits on registered or pinned memory.
func (e *Endpoint) RegisteredBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for m := range e.mrs {
		n += int64(m.n)
	}
	return n
}

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
	e.mu.Lock()
	_, live := e.mrs[m]
	delete(e.mrs, m)
	e.mu.Unlock()
	if !live {
		return nil // closed by Endpoint.Close
	}
	var err error
	if xerr := e.exec(func() { err = m.dereg() }); xerr != nil {
		if errors.Is(xerr, ErrClosed) {
			return nil // the owner is gone: Endpoint.Close deregistered everything
		}
		// The owner is stuck (execWait): the region stays the
		// endpoint's, for Endpoint.Close to deregister.
		e.mu.Lock()
		e.mrs[m] = struct{}{}
		e.mu.Unlock()
		return fmt.Errorf("verbs: deregister: %w", xerr)
	}
	return err
}

// dereg runs on the owner thread.
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
