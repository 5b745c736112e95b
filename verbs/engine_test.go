//go:build cgo

package verbs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestConcurrentPosts: thousands of posts from many goroutines at once,
// each completion reaching the goroutine that made the post: every
// goroutine writes its own pattern to its own window and checks, after its
// own Wait, that exactly its bytes are there.
func TestConcurrentPosts(t *testing.T) {
	const workers, each, size = 64, 40, 4096
	for _, prov := range testProviders {
		forTurnModes(t, prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			src, dst := mmapBuf(t, workers*size), mmapBuf(t, workers*size)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteWrite)
			rb, _ := md.Remote(0, workers*size)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					win := src[w*size : (w+1)*size]
					for i := 0; i < each; i++ {
						for k := range win {
							win[k] = byte(w*31 + i*7 + k)
						}
						op, err := p.a.StartWaiting(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, uint64(w*size), size), Remote: rb, Off: uint64(w * size)})
						if err != nil {
							errs <- err
							return
						}
						if err := op.Wait(ctx); err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(dst[w*size:(w+1)*size], win) {
							errs <- fmt.Errorf("worker %d write %d: target does not hold the bytes at completion", w, i)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// forTurnModes runs f as subtests name/owner-only (every post waits for
// the owner's turn, so the owner's kicks and batching are what is tested)
// and name/caller-turns (a caller that finds the turn lock free posts
// and reaps itself, the default).
func forTurnModes(t *testing.T, name string, f func(t *testing.T)) {
	for _, mode := range []struct {
		name   string
		caller bool
	}{{"owner-only", false}, {"caller-turns", true}} {
		t.Run(name+"/"+mode.name, func(t *testing.T) {
			old := callerTurns
			callerTurns = mode.caller
			t.Cleanup(func() { callerTurns = old })
			f(t)
		})
	}
}

// TestCallerTurns: a post made by StartWaiting while the owner is blocked
// without bound is taken by the caller itself; on shm, whose CMA copy completes inside
// the post, the operation is done when Start returns, and the owner takes
// no turn for it. On tcp the caller posts and the owner, kicked because
// the post is in flight, reaps the completion. Start leaves every post to
// the owner. A registration made while the owner is blocked is made by
// the caller as well. Many goroutines posting at
// once (TestConcurrentPosts) mix both kinds of turn.
func TestCallerTurns(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			noIdleWake(t)
			p := newPair(t, prov)
			ctx := testCtx(t)
			const size, n = 64 << 10, 50
			src, dst := mmapBuf(t, size), mmapBuf(t, size)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteWrite)
			rb, _ := md.Remote(0, size)
			done := p.b.Expect()
			defer done()
			// First contact (shm refuses posts until the target has
			// progressed once), then let the owner block.
			if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, size), Remote: rb}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			// A registration made while the owner is blocked runs in
			// the caller too (exec).
			calls0 := p.a.callerCalls.Load()
			extra := reg(t, p.a, mmapBuf(t, 4096), AccessLocal)
			if p.a.callerCalls.Load() == calls0 {
				t.Error("a registration made while the owner was blocked went through the owner")
			}
			if err := extra.Close(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			owner0, caller0 := p.a.ownerTurns.Load(), p.a.callerTurnsTaken.Load()
			synchronous := 0
			for i := 0; i < n; i++ {
				fill(src, int64(i))
				op, err := p.a.StartWaiting(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, size), Remote: rb})
				if err != nil {
					t.Fatal(err)
				}
				select {
				case <-op.Done():
					synchronous++
				default:
				}
				if err := op.Wait(ctx); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if !bytes.Equal(src, dst) {
					t.Fatalf("write %d: the target does not hold the bytes", i)
				}
			}
			callerTurns, ownerTurns := p.a.callerTurnsTaken.Load()-caller0, p.a.ownerTurns.Load()-owner0
			t.Logf("%d writes: %d caller turns, %d owner turns, %d done when Start returned", n, callerTurns, ownerTurns, synchronous)
			// On tcp the owner, kicked to reap each write, may still be
			// in that turn when the next write comes: some go to it.
			if callerTurns == 0 {
				t.Errorf("%d writes made no caller turn", n)
			}
			// Start leaves the post to the owner: the caller goes on.
			caller1 := p.a.callerTurnsTaken.Load()
			op, err := p.a.Start(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, size), Remote: rb})
			if err != nil {
				t.Fatal(err)
			}
			if err := op.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if got := p.a.callerTurnsTaken.Load() - caller1; got != 0 {
				t.Errorf("Start took %d caller turns, want none", got)
			}
			if p.a.info.Provider == "shm" {
				if callerTurns != n {
					t.Errorf("shm: %d writes made %d caller turns, want one each (the owner was blocked)", n, callerTurns)
				}
				if synchronous != n {
					t.Errorf("shm: %d of %d writes were done when Start returned, want all", synchronous, n)
				}
				if ownerTurns > 2 {
					t.Errorf("shm: the owner took %d turns for writes its callers completed", ownerTurns)
				}
			}
		})
	}
}

// noIdleWake makes a blocked owner sleep without bound, so only a kick,
// the wait fd or Close can wake it.
func noIdleWake(t *testing.T) {
	oldBlock, oldNoFD := idleBlock, idleNoFD
	idleBlock, idleNoFD = -1, -1
	t.Cleanup(func() { idleBlock, idleNoFD = oldBlock, oldNoFD })
}

// TestOwnerWakeups: with no timed wake-ups at all, an idle owner is woken
// by a post (the kick), by a completion (tcp's wait fd: the write's
// completion arrives from the peer) and by Close. A missed wake-up hangs
// here until the test's deadline.
func TestOwnerWakeups(t *testing.T) {
	for _, prov := range testProviders {
		forTurnModes(t, prov, func(t *testing.T) {
			noIdleWake(t)
			p := newPair(t, prov)
			ctx := testCtx(t)
			src, dst := mmapBuf(t, 1<<20), mmapBuf(t, 1<<20)
			fill(src, 5)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteWrite)
			rb, _ := md.Remote(0, 1<<20)
			// The target must progress for first contact: it expects.
			done := p.b.Expect()
			for i := 0; i < 20; i++ {
				time.Sleep(5 * time.Millisecond) // let both owners block
				if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 1<<20), Remote: rb}); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			done()
			if !bytes.Equal(src, dst) {
				t.Fatal("target does not hold the bytes")
			}
			time.Sleep(5 * time.Millisecond)
			closed := make(chan error, 1)
			go func() { closed <- p.a.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("close: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("Close did not wake the owner")
			}
		})
	}
}

// TestCloseWithQueued: posts still queued when the endpoint closes each
// end with an error, none hangs, and the memory is released.
func TestCloseWithQueued(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			src, dst := mmapBuf(t, 1<<20), mmapBuf(t, 1<<20)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteWrite)
			rb, _ := md.Remote(0, 1<<20)
			if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 1), Remote: rb}); err != nil {
				t.Fatal(err)
			}
			var ops []*Op
			for i := 0; i < 2000; i++ {
				op, err := p.a.Start(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 64<<10), Remote: rb, Off: uint64(i%16) << 16})
				if err != nil {
					t.Fatal(err)
				}
				ops = append(ops, op)
			}
			if err := p.a.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			var failed int
			for _, op := range ops {
				select {
				case <-op.Done():
				case <-ctx.Done():
					t.Fatal("an operation queued at close never ended")
				}
				if err := op.Err(); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("queued op: %v, want ErrClosed", err)
					}
					failed++
				}
			}
			t.Logf("%d of %d operations ended with ErrClosed", failed, len(ops))
			if err := ms.Close(); err != nil {
				t.Errorf("region close: %v", err)
			}
			if _, err := p.a.Start(context.Background(), RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 1), Remote: rb}); err == nil {
				t.Error("Start on a closed endpoint succeeded")
			}
		})
	}
}

// TestOwnAddressesValid: what the providers hand out passes the check.
func TestOwnAddressesValid(t *testing.T) {
	for _, prov := range testProviders {
		e := openOrSkip(t, prov)
		if err := CheckAddress(e.Provider(), e.Address()); err != nil {
			t.Errorf("%s's own address %q: %v", prov, e.Address(), err)
		}
	}
}

// TestStuckOwner: a call queued behind an owner stuck in a provider call
// fails with ETIMEDOUT after execWait instead of waiting with it, and is
// dropped (it never runs, even once the owner is free again); the call
// the owner was stuck in is waited for; the endpoint still works after.
func TestStuckOwner(t *testing.T) {
	e := openOrSkip(t, "shm")
	saved := execWait
	execWait = 200 * time.Millisecond
	t.Cleanup(func() { execWait = saved })

	held := mmapBuf(t, 4096)
	mh, err := e.Register(unsafe.Pointer(&held[0]), len(held), AccessLocal)
	if err != nil {
		t.Fatal(err)
	}
	release, running := make(chan struct{}), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // runs before the endpoint's Close, which waits for the owner
	stuck := make(chan error, 1)
	go func() { // stands for a provider call that does not return
		stuck <- e.exec(func() { close(running); <-release })
	}()
	<-running
	var ran atomic.Bool
	res := make(chan error, 1)
	go func() { res <- e.exec(func() { ran.Store(true) }) }()
	select {
	case err = <-res:
	case <-time.After(25 * execWait):
		free()
		t.Fatalf("a call behind a stuck owner still waits after %v", 25*execWait)
	}
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("a call behind a stuck owner: %v, want ETIMEDOUT", err)
	}
	// A region closed meanwhile stays the endpoint's, for its Close.
	if err := mh.Close(); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("closing a region behind a stuck owner: %v, want ETIMEDOUT", err)
	}
	e.mu.Lock()
	_, kept := e.mrs[mh]
	e.mu.Unlock()
	if !kept {
		t.Error("a region whose deregistration timed out left the endpoint's list")
	}
	select {
	case err := <-stuck:
		t.Fatalf("the running call returned (%v) before it ended", err)
	default:
	}
	free()
	if err := <-stuck; err != nil {
		t.Errorf("the call the owner was stuck in: %v", err)
	}
	// The owner runs what is queued next; the dropped call is not run.
	if err := e.exec(func() {}); err != nil {
		t.Fatalf("a call after the owner is free: %v", err)
	}
	if ran.Load() {
		t.Error("the dropped call ran")
	}
	src := mmapBuf(t, 4096)
	m := reg(t, e, src, AccessLocal)
	if err := m.Close(); err != nil {
		t.Errorf("deregister after the owner is free: %v", err)
	}
}

// TestKickAfterClose: a kick that comes after Close (a caller racing it:
// LaneBusy, a caller's turn) writes nothing, though the kick eventfd's
// number may by then be another file's. Here the next socket opened takes
// the number, and its peer must read nothing.
func TestKickAfterClose(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			e := openOrSkip(t, prov)
			fd := e.kickFD
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			var peer = -1
			for i := 0; i < 64 && peer < 0; i++ {
				pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unix.Close(pair[0]); unix.Close(pair[1]) })
				switch fd {
				case pair[0]:
					peer = pair[1]
				case pair[1]:
					peer = pair[0]
				}
			}
			if peer < 0 {
				t.Fatalf("no socket took the closed eventfd's number %d", fd)
			}
			e.kick(true)
			var buf [8]byte
			if n, _ := unix.Read(peer, buf[:]); n > 0 {
				t.Fatalf("a kick after Close wrote %d bytes into the socket that took the eventfd's number", n)
			}
		})
	}
}
