//go:build cgo

package verbs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestOpenUnsupported: providers that cannot be opened here give ErrNotSupported.
func TestOpenUnsupported(t *testing.T) {
	// Without RDMA devices these providers cannot open; where a machine
	// has devices, opening them is a test of its own.
	devs, _ := os.ReadDir("/sys/class/infiniband")
	for _, p := range []string{"verbs;ofi_rxm", "cxi", "efa"} {
		e, err := Open(Config{Provider: p})
		if err == nil {
			e.Close()
			if len(devs) == 0 {
				t.Errorf("%s opened on a machine without RDMA devices", p)
			}
			continue
		}
		if !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: %v does not wrap ErrNotSupported", p, err)
		}
		t.Logf("%s: %v", p, err)
	}
	if _, err := Open(Config{Provider: "bogus"}); err == nil || errors.Is(err, ErrNotSupported) {
		t.Errorf("unknown provider: got %v, want a configuration error", err)
	}
	if _, err := Open(Config{Provider: "tcp", Interface: "no-such-iface0"}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("bad interface: got %v", err)
	}
}

// guarded is a registered window with guard bytes on both sides that are
// not part of the registration.
type guarded struct {
	all    []byte
	win    []byte
	mr     *MemoryRegion
	guard  int
	guardV byte
}

func newGuarded(t *testing.T, e *Endpoint, n, guard int) *guarded {
	all := mmapBuf(t, n+2*guard)
	for i := range all {
		all[i] = 0xA5
	}
	g := &guarded{all: all, win: all[guard : guard+n], guard: guard, guardV: 0xA5}
	m, err := e.Register(unsafe.Pointer(&g.win[0]), n, AccessLocal|AccessRemoteRead|AccessRemoteWrite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	g.mr = m
	return g
}

func (g *guarded) check(t *testing.T) {
	t.Helper()
	for i := 0; i < g.guard; i++ {
		if g.all[i] != g.guardV || g.all[len(g.all)-1-i] != g.guardV {
			t.Fatalf("guard byte overwritten")
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			a := openOrSkip(t, prov)
			b := openOrSkip(t, prov)
			peer, err := a.Connect(b.Address())
			if err != nil {
				t.Fatal(err)
			}
			if p2, _ := a.Connect(b.Address()); p2 != peer {
				t.Fatalf("same address gave peers %d and %d", peer, p2)
			}
			const n, guard = 64 << 10, 64 << 10
			tgt := newGuarded(t, b, n, guard)
			src := mmapBuf(t, 4*n)
			fill(src, 7)
			ms := reg(t, a, src, AccessLocal)
			rb, err := tgt.mr.Remote(0, n)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// Warm the connection.
			if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 8), Remote: rb, Off: 0}); err != nil {
				t.Fatal(err)
			}

			// Ranges outside the window never reach the fabric.
			if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, n+1), Remote: rb, Off: 0}); !errors.Is(err, ErrRange) {
				t.Errorf("write past window: %v", err)
			}
			if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 2), Remote: rb, Off: n - 1}); !errors.Is(err, ErrRange) {
				t.Errorf("write straddling window end: %v", err)
			}
			if err := a.Do(ctx, RMA{Kind: Read, Peer: peer, Local: One(ms, 4*n-1, 2), Remote: rb, Off: 0}); !errors.Is(err, ErrRange) {
				t.Errorf("read past local region: %v", err)
			}
			if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 1), Remote: rb, Off: ^uint64(0)}); !errors.Is(err, ErrRange) {
				t.Errorf("overflowing offset: %v", err)
			}
			if _, err := tgt.mr.Remote(1, n); !errors.Is(err, ErrRange) {
				t.Errorf("Remote past region: %v", err)
			}
			checks := a.Info().RemoteChecks
			recon := func() {
				// tcp;ofi_rxm tears the connection down when the target
				// rejects an access; the next operation fails with "not
				// connected" and the one after reconnects.
				var err error
				for i := 0; i < 5; i++ {
					if err = a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 8), Remote: rb, Off: 0}); err == nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				t.Fatalf("no recovery after a rejected access: %v", err)
			}
			if checks {
				// A forged window larger than the registration: the
				// provider must refuse it at the target.
				forged := rb
				forged.Len = 3 * n
				if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 2*n), Remote: forged, Off: 0}); err == nil {
					t.Errorf("write of a forged window beyond the registration succeeded")
				} else {
					t.Logf("forged window: %v", err)
				}
				tgt.check(t)
				recon()
				bad := rb
				bad.Key ^= 0x5a5a5a
				if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 64), Remote: bad, Off: 0}); err == nil {
					t.Errorf("write with wrong key succeeded")
				} else {
					t.Logf("wrong key: %v", err)
				}
				recon()
				if err := a.Do(ctx, RMA{Kind: Read, Peer: peer, Local: One(ms, 0, 64), Remote: bad, Off: 0}); err == nil {
					t.Errorf("read with wrong key succeeded")
				}
				tgt.check(t)
				recon()
			} else {
				t.Logf("%s does not check keys or windows at the target (%s): forged-window and wrong-key cases skipped",
					prov, a.Info().DeliveryMode)
				_ = recon
				// An address the target cannot access is an error, not a
				// hang. The range stays reserved (PROT_NONE) rather than
				// unmapped: the target is this process, and an unmapped
				// range can be mapped again by the runtime before the
				// read, which then succeeds.
				hole, err := syscall.Mmap(-1, 0, 1<<20, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { syscall.Munmap(hole) })
				hb := RemoteBuffer{Addr: uint64(uintptr(unsafe.Pointer(&hole[0]))), Key: rb.Key, Len: 1 << 20}
				if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 64), Remote: hb, Off: 0}); err == nil {
					t.Errorf("write to inaccessible memory succeeded")
				} else {
					t.Logf("inaccessible target: %v", err)
				}
				if err := a.Do(ctx, RMA{Kind: Read, Peer: peer, Local: One(ms, 0, 64), Remote: hb, Off: 0}); err == nil {
					t.Errorf("read from inaccessible memory succeeded")
				}
			}

			// The endpoint still works after errors.
			recon()
			if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 3, n), Remote: rb, Off: 0}); err != nil {
				t.Fatalf("write after errors: %v", err)
			}
			if !bytes.Equal(tgt.win, src[3:3+n]) {
				t.Fatal("data mismatch after errors")
			}
			tgt.check(t)

			if checks {
				// Deregistered remote region.
				tgt.mr.Close()
				if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 64), Remote: rb, Off: 0}); err == nil {
					t.Errorf("write into a deregistered region succeeded")
				} else {
					t.Logf("deregistered remote: %v", err)
				}
				tgt.check(t)
			}
			if _, err := tgt.mr.Remote(0, 1); checks && !errors.Is(err, ErrClosed) {
				t.Errorf("Remote of a closed region: %v", err)
			}

			// Deregistered local region.
			ms.Close()
			if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 64), Remote: rb, Off: 0}); !errors.Is(err, ErrClosed) {
				t.Errorf("write from deregistered local region: %v", err)
			}
			if err := ms.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}
