//go:build !cgo

package verbs

import (
	"context"
	"fmt"
	"unsafe"
)

// Without cgo there is no libfabric: every Open fails with ErrNotSupported,
// so a pure-Go client builds and runs on sockets.

// Endpoint is a fabric endpoint; without cgo none can be opened.
type Endpoint struct{}

// MemoryRegion is a registered window of memory.
type MemoryRegion struct{}

// Op is an operation in flight.
type Op struct{}

var errNoCgo = fmt.Errorf("verbs: built without cgo, no libfabric: %w", ErrNotSupported)

// Open always fails without cgo.
func Open(cfg Config) (*Endpoint, error) {
	if _, err := CanonicalProvider(cfg.Provider); err != nil {
		return nil, err
	}
	return nil, errNoCgo
}

// LibfabricVersion reports that there is no libfabric.
func LibfabricVersion() string { return "none (built without cgo)" }

// StubbedLibraries is empty without cgo.
func StubbedLibraries() []string { return nil }

func (e *Endpoint) Info() Info                                    { return Info{} }
func (e *Endpoint) Provider() string                              { return "" }
func (e *Endpoint) RegisteredBytes() int64                        { return 0 }
func (e *Endpoint) Address() []byte                               { return nil }
func (e *Endpoint) LaneAddress(lane int) []byte                   { return nil }
func (e *Endpoint) SettleLane(lane int)                           {}
func (e *Endpoint) UnsettleLane(lane int)                         {}
func (e *Endpoint) SetLanePeer(lane, pid int)                     {}
func (e *Endpoint) LocksFreed() int64                             { return 0 }
func (e *Endpoint) Connect(addr []byte) (Peer, error)             { return 0, errNoCgo }
func (e *Endpoint) Disconnect(p Peer) error                       { return errNoCgo }
func (e *Endpoint) Connected(p Peer) bool                         { return false }
func (e *Endpoint) LaneBusy(lane, rmas int) (done func())         { return func() {} }
func (e *Endpoint) Close() error                                  { return nil }
func (e *Endpoint) Expect() func()                                { return func() {} }
func (e *Endpoint) Start(ctx context.Context, r RMA) (*Op, error) { return nil, errNoCgo }
func (e *Endpoint) StartWaiting(ctx context.Context, r RMA) (*Op, error) {
	return nil, errNoCgo
}
func (e *Endpoint) Do(ctx context.Context, r RMA) error { return errNoCgo }
func (e *Endpoint) RegisterBytes(b []byte, acc Access) (*MemoryRegion, error) {
	return nil, errNoCgo
}
func (e *Endpoint) Register(p unsafe.Pointer, n int, acc Access) (*MemoryRegion, error) {
	return nil, errNoCgo
}

func (m *MemoryRegion) Len() int                                   { return 0 }
func (m *MemoryRegion) Base() unsafe.Pointer                       { return nil }
func (m *MemoryRegion) Key() uint64                                { return 0 }
func (m *MemoryRegion) Access() Access                             { return 0 }
func (m *MemoryRegion) Remote(off, n uint64) (RemoteBuffer, error) { return RemoteBuffer{}, errNoCgo }
func (m *MemoryRegion) Close() error                               { return nil }
func (op *Op) Done() <-chan struct{}                               { c := make(chan struct{}); close(c); return c }
func (op *Op) Err() error                                          { return errNoCgo }
func (op *Op) Wait(ctx context.Context) error                      { return errNoCgo }
