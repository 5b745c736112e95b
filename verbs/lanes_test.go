//go:build cgo

package verbs

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/testenv"
)

// TestLanes: a target with several lanes is reached on each by a different
// initiator at once; every byte lands where its initiator aimed it, in a
// region registered once on the shared domain.
func TestLanes(t *testing.T) {
	const lanes, part = 4, 3<<20 + 5
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			b, err := Open(Config{Provider: prov, Lanes: lanes})
			if errors.Is(err, ErrNotSupported) {
				testenv.SkipOrFail(t, "provider %s: %v", prov, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			if got := b.Info().Lanes; got != lanes {
				t.Fatalf("Info().Lanes = %d, want %d", got, lanes)
			}
			seen := map[string]bool{}
			for l := 0; l < lanes; l++ {
				seen[string(b.LaneAddress(l))] = true
			}
			if len(seen) != lanes || !bytes.Equal(b.LaneAddress(lanes+1), b.LaneAddress(1)) || !bytes.Equal(b.Address(), b.LaneAddress(0)) {
				t.Fatalf("lane addresses: %d distinct of %d, or lanes do not wrap", len(seen), lanes)
			}
			dst := mmapBuf(t, lanes*part)
			md := reg(t, b, dst, AccessRemoteRead|AccessRemoteWrite)
			rb, err := md.Remote(0, uint64(len(dst)))
			if err != nil {
				t.Fatal(err)
			}
			done := b.Expect()
			defer done()
			ctx := testCtx(t)
			var wg sync.WaitGroup
			errs := make([]error, lanes)
			type initiator struct {
				a    *Endpoint
				mr   *MemoryRegion
				peer Peer
			}
			inits := make([]initiator, lanes)
			for l := 0; l < lanes; l++ {
				a := openOrSkip(t, prov)
				src := mmapBuf(t, part)
				fill(src, int64(l+1))
				ms := reg(t, a, src, AccessLocal)
				peer, err := a.Connect(b.LaneAddress(l))
				if err != nil {
					t.Fatal(err)
				}
				inits[l] = initiator{a, ms, peer}
				wg.Add(1)
				go func() {
					defer wg.Done()
					off := uint64(l * part)
					if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, part), Remote: rb, Off: off}); err != nil {
						errs[l] = fmt.Errorf("lane %d write: %w", l, err)
						return
					}
					clear(src)
					if err := a.Do(ctx, RMA{Kind: Read, Peer: peer, Local: One(ms, 0, part), Remote: rb, Off: off}); err != nil {
						errs[l] = fmt.Errorf("lane %d read: %w", l, err)
						return
					}
					if !bytes.Equal(src, dst[off:off+part]) {
						errs[l] = fmt.Errorf("lane %d: read back differs", l)
					}
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			for l := 0; l < lanes; l++ {
				want := make([]byte, part)
				fill(want, int64(l+1))
				if !bytes.Equal(dst[l*part:(l+1)*part], want) {
					t.Errorf("lane %d: target bytes differ from what its initiator wrote", l)
				}
			}
			// Settled lanes are looked at seldom: more RMAs than shm has
			// command slots per lane (each takes one until the target
			// progresses) still complete.
			for l := 0; l < lanes; l++ {
				b.SettleLane(l)
			}
			for i := 0; i < 2048*lanes; i++ { // twice rx_size (1024) per lane
				l := i % lanes
				if err := inits[l].a.Do(ctx, RMA{Kind: Write, Peer: inits[l].peer, Local: One(inits[l].mr, 0, 4096), Remote: rb, Off: uint64(l * part)}); err != nil {
					t.Fatalf("settled lane %d, write %d: %v", l, i, err)
				}
			}
			// Busy lanes (a request in flight) are looked at more seldom
			// still: RMAs beyond the command slots complete all the same
			// (busyLook), and the spell's end has the lane looked at.
			var dones []func()
			for l := 0; l < lanes; l++ {
				dones = append(dones, b.LaneBusy(l, 1))
			}
			want := uint32(1<<lanes - 1)
			if b.Info().WaitFD {
				want = 0 // the wait fd wakes the owner for each lane: no skipping
			}
			if got := b.quietBusy(); got != want {
				t.Fatalf("quiet busy mask %b with every lane busy, want %b", got, want)
			}
			for i := 0; i < 1100*lanes; i++ { // past rx_size per lane
				l := i % lanes
				if err := inits[l].a.Do(ctx, RMA{Kind: Write, Peer: inits[l].peer, Local: One(inits[l].mr, 0, 4096), Remote: rb, Off: uint64(l * part)}); err != nil {
					t.Fatalf("busy lane %d, write %d: %v", l, i, err)
				}
			}
			heavy := b.LaneBusy(0, busyRMAs)
			if got := b.quietBusy(); got&1 != 0 {
				t.Fatalf("lane 0 with %d RMAs said outstanding counts as quiet (mask %b)", busyRMAs+1, got)
			}
			heavy()
			for _, done := range dones {
				done()
			}
			if b.quietBusy() != 0 {
				t.Fatalf("lanes still busy after their spells: %b", b.quietBusy())
			}
			for i := 0; b.due.Load() != 0; i++ {
				if i == 500 {
					t.Fatalf("lanes %b due for a look were never looked at", b.due.Load())
				}
				time.Sleep(10 * time.Millisecond)
			}
			b.UnsettleLane(1)
			if b.settled.Load() != 1<<lanes-1-2 {
				t.Fatalf("settled mask %b after unsettling lane 1", b.settled.Load())
			}
		})
	}
	if _, err := Open(Config{Provider: "shm", Lanes: MaxLanes + 1}); err == nil {
		t.Error("more than MaxLanes lanes accepted")
	}
}

// TestLaneBusyWithoutExpect: a client's call to a server that has reached
// its lane expects nothing (no thread is woken), a call on a lane not yet
// reached expects, and with the owner never waking on its own (no timed
// wake-ups at all), RMAs far past shm's command slots on the settled lane
// still complete: the call that brings a lane to busyRMAs RMAs since its
// last look kicks the owner to hand the slots back. Without that kick the
// initiator's posts are refused for good after rx_size (1024) of them.
func TestLaneBusyWithoutExpect(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			noIdleWake(t)
			b, err := Open(Config{Provider: prov, Lanes: 2})
			if errors.Is(err, ErrNotSupported) {
				testenv.SkipOrFail(t, "provider %s: %v", prov, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			const size = 4096
			dst := mmapBuf(t, size)
			md := reg(t, b, dst, AccessRemoteWrite)
			rb, _ := md.Remote(0, size)
			a := openOrSkip(t, prov)
			src := mmapBuf(t, size)
			ms := reg(t, a, src, AccessLocal)
			peer, err := a.Connect(b.LaneAddress(1))
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)

			// First contact: the lane is not settled, so the call expects.
			before := b.expect.Load()
			done := b.LaneBusy(1, 1)
			if b.expect.Load() != before+1 {
				t.Fatalf("LaneBusy on a lane not reached yet: expect %d -> %d, want one more", before, b.expect.Load())
			}
			if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, size), Remote: rb}); err != nil {
				t.Fatal(err)
			}
			done()
			b.SettleLane(1)

			before = b.expect.Load()
			done = b.LaneBusy(1, 1)
			if b.expect.Load() != before {
				t.Fatalf("LaneBusy on a settled lane expects (expect %d -> %d)", before, b.expect.Load())
			}
			done()
			start := time.Now()
			for i := 0; i < 2100; i++ { // past twice rx_size
				src[0], src[size/2], src[size-1] = byte(i), byte(i>>8), byte(i>>16)
				done := b.LaneBusy(1, 1)
				err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, size), Remote: rb})
				done()
				if err != nil {
					t.Fatalf("write %d on the settled lane: %v", i, err)
				}
				if !bytes.Equal(src, dst) {
					t.Fatalf("write %d: the target does not hold the bytes", i)
				}
			}
			t.Logf("2100 writes on the settled lane in %v", time.Since(start))
		})
	}
}
