//go:build cgo

package verbs

/*
#include <stdlib.h>
#include <rdma/fabric.h>
#include "fabric.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The owner is one goroutine locked to its OS thread per endpoint. Every
// libfabric call on the endpoint's objects is made in a turn, under the
// endpoint's turn lock (the domain is FI_THREAD_DOMAIN, so the provider
// takes no locks of its own for us): goroutines queue posts and control
// calls; a turn posts in batches, reaps completions and wakes each
// waiter. The owner takes turns and blocks in poll(2) on the provider's
// wait fd and a kick eventfd when idle; a goroutine that queues posts
// while the lock is free takes the turn itself (callerTurn) and kicks
// the owner only if something is left to drive.
const (
	maxBatch = 64  // posts handed to C per turn
	maxComps = 128 // completions reaped per turn

	// Where a provider has no wait fd (shm) and a peer may be moving
	// bytes to or from us, the owner polls, backing off from minNap to
	// maxNap while nothing happens.
	minNap = 20 * time.Microsecond
	maxNap = time.Millisecond
	// When the owner only expects peers' RMA (nothing of its own in
	// flight) it backs off further: on shm a target's progress is needed
	// only for a peer's first contact and to return command slots (one
	// per RMA, rx_size of them), and each look takes the endpoint's region
	// lock, which a peer holds for the length of each copy into us. A new
	// Expect starts again from minNap, so first contacts stay quick.
	maxExpectNap = 4 * time.Millisecond
	// A settled lane (SettleLane) is looked at this often while the
	// owner only expects peers' RMA: enough to hand back shm's command
	// slots (one per RMA, rx_size of them, so thousands of RMAs per look),
	// seldom enough that waiting on the lane's lock while a peer copies
	// into it stays a small cost.
	settledLook = 20 * time.Millisecond
	// An Expect that has seen nothing happen for this long looks every
	// settledLook instead of every maxExpectNap: a peer that has not
	// reached us by now is loaded, and 256 shm clients each waking every
	// 4 ms while their servers worked through them took most of a 2-core
	// machine's CPU. A first contact that comes later waits up to
	// settledLook longer (the peer retries its refused post meanwhile).
	longExpect = 50 * time.Millisecond
	// A settled lane that a peer is moving bytes into or out of now
	// (LaneBusy) is looked at only this often: each look would wait on
	// the lane's lock for the rest of the peer's copy (a 4 MiB RMA is
	// about a millisecond), and with 4 servers reading into one client
	// that wait was 15 % of the machine's CPU samples. The busy spell's
	// end schedules a look, which hands the command slots back; this
	// bound covers a spell longer than the slots last.
	busyLook = 200 * time.Millisecond
	// A busy lane is skipped only while fewer RMAs than this are said to
	// be in flight on it or to have begun since its last look, a quarter
	// of shm's command slots (rx_size 1024): more could run out of slots
	// before the next look.
	busyRMAs = 256
	// A lane whose lock a peer holds (skippableLanes) is looked at again after
	// minNap, backing off to maxNap while it stays held; with this many
	// RMAs begun since its last look it is read even if held, half of
	// shm's command slots still free.
	forceLookRMAs = 2 * busyRMAs
)

// callerTurns lets a caller that finds the turn lock free post its own
// operations (callerTurn). A variable so benchmarks can compare.
var callerTurns = true

var (
	// Bound on a blocked owner's sleep even with a wait fd, so a provider
	// that forgets to signal it is still driven now and then. Tests set
	// it to -1 (no bound) to show that kicks and the wait fd wake it.
	idleBlock = time.Second
	// Without a wait fd an idle owner still looks at the provider this
	// often: a peer's first contact on shm waits for the target to
	// progress once (its posts return -FI_EAGAIN until then). Callers
	// that expect traffic (Expect) get minNap..maxExpectNap instead.
	idleNoFD = 100 * time.Millisecond
)

// post is one fabric operation: a piece of an Op.
type post struct {
	op    *Op
	write bool
	peer  Peer
	raddr uint64
	key   uint64
	n     int
	laddr [C.FERRY_MAX_IOV]uint64
	llen  [C.FERRY_MAX_IOV]uint64
	lmr   [C.FERRY_MAX_IOV]unsafe.Pointer
	bytes uint64
}

// kick wakes the owner if it may be blocked in ppoll(2) (always when
// force). Once the endpoint is shut down the eventfd is closed and its
// number may be another file's: a late kick (a caller racing Close)
// writes nothing.
func (e *Endpoint) kick(force bool) {
	if force || e.sleeping.Load() {
		e.kickMu.RLock()
		if !e.kickClosed {
			one := [8]byte{1}
			unix.Write(e.kickFD, one[:])
		}
		e.kickMu.RUnlock()
	}
}

// enqueue hands posts to the owner, or, for a caller that waits for
// them next (StartWaiting), takes a turn to post them itself when the
// turn lock is free.
func (e *Endpoint) enqueue(ps []*post, waiting bool) error {
	e.qmu.Lock()
	if e.closing {
		e.qmu.Unlock()
		return fmt.Errorf("endpoint %w", ErrClosed)
	}
	// Only posts that find nothing queued ahead of them: a caller's turn
	// moves no one else's bytes, which the owner moves meanwhile.
	alone := len(e.queue) == 0 && len(e.calls) == 0
	e.queue = append(e.queue, ps...)
	e.qmu.Unlock()
	if !waiting || !alone || !callerTurns {
		e.kick(false)
		return nil
	}
	e.callerTurn()
	return nil
}

// execWait bounds how long exec waits for the owner to take a call. The
// owner takes every queued call at each turn, so a call still queued
// after execWait means the owner is stuck inside the provider (a call
// that does not return): the caller gets an error instead of waiting
// with it forever. A variable so tests can shorten it.
var execWait = time.Minute

// exec runs f under the turn lock, on the caller's thread when the lock
// is free, else on the owner thread, and waits for it. If the owner has not
// taken f within execWait, f is dropped (it never runs) and exec returns
// an error wrapping ETIMEDOUT; once f has started, exec waits for it.
func (e *Endpoint) exec(f func()) error {
	if callerTurns && e.turnMu.TryLock() {
		// The owner is idle or blocked (it holds the lock for each
		// turn): run f here, under the lock, unless calls queued
		// before this one are still to run (they keep their order) or
		// the endpoint is closing. A registration made this way wakes
		// no thread; through the owner it cost two wake-ups.
		e.qmu.Lock()
		now := len(e.calls) == 0 && !e.closing && e.turns != nil
		e.qmu.Unlock()
		if now {
			e.callerCalls.Add(1)
			f()
			e.turnMu.Unlock()
			return nil
		}
		e.turnMu.Unlock()
	}
	done := make(chan struct{})
	var taken atomic.Bool // by the owner as it starts f, or by exec as it gives up
	e.qmu.Lock()
	if e.closing {
		e.qmu.Unlock()
		return fmt.Errorf("endpoint %w", ErrClosed)
	}
	e.calls = append(e.calls, func() {
		if taken.CompareAndSwap(false, true) {
			f()
		}
		close(done)
	})
	e.qmu.Unlock()
	e.kick(false)
	timer := time.NewTimer(execWait)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-e.done:
	case <-timer.C:
		if taken.CompareAndSwap(false, true) {
			return fmt.Errorf("verbs: the %s endpoint's owner took no call for %v (stuck in the provider): %w",
				e.info.Provider, execWait, syscall.ETIMEDOUT)
		}
		select { // f is running and cannot be stopped
		case <-done:
			return nil
		case <-e.done:
		}
	}
	select {
	case <-done:
		return nil
	default:
		return fmt.Errorf("endpoint %w", ErrClosed)
	}
}

// Expect tells the owner that a peer may soon move bytes to or from this
// endpoint's memory, until the returned function is called. Providers
// without a wait fd need the target of RMA to make progress (shm, when a
// peer first contacts us): while anyone expects, the owner polls.
func (e *Endpoint) Expect() (done func()) {
	if e.expect.Add(1) == 1 {
		e.expectOn.Store(true)
	}
	e.kick(false)
	return func() { e.expect.Add(-1) }
}

// SettleLane says a peer has reached lane with RMA: its connection is
// up, so the owner need not progress the lane at the pace of a first
// contact (see settledLook). A caller that may face a new peer on the
// lane (a restarted server) calls UnsettleLane first.
func (e *Endpoint) SettleLane(lane int) {
	if n := len(e.addrs); n > 1 {
		bit := uint32(1) << (lane % n)
		for old := e.settled.Load(); old&bit == 0 && !e.settled.CompareAndSwap(old, old|bit); old = e.settled.Load() {
		}
	}
}

// LaneBusy says a peer may be moving bytes into or out of lane by RMA
// now, by about rmas operations, until the returned function is called
// (a client's data request to the server that uses the lane is in
// flight).
//
// While the lane is not settled (SettleLane: its peer has not reached us
// yet, or there is only one lane), it also expects (Expect), so that the
// owner progresses the lane for the peer's first contact. A settled lane
// needs no more than its command slots handed back, which the owner's
// own looks do: the request wakes no thread here. Before, every request
// woke the owner, which then polled at minNap pace while the peer copied:
// three or four wake-ups of a third thread per 16 KiB read on shm.
//
// While busy, a settled lane is looked at seldom (busyLook), unless
// busyRMAs or more RMAs are in flight on it or have begun since its last
// look: the request that brings the count to busyRMAs kicks the owner to
// look, so a peer never runs out of slots waiting for an owner asleep.
// When its last busy spell ends it is looked at on the owner's next turn.
// The slot accounting applies only with several lanes and without a
// wait fd (shm).
func (e *Endpoint) LaneBusy(lane, rmas int) (done func()) {
	n := len(e.addrs)
	settled := n > 1 && e.settled.Load()&(uint32(1)<<(lane%n)) != 0
	var expectDone func()
	if !settled {
		expectDone = e.Expect()
	}
	if n <= 1 || e.info.WaitFD {
		if expectDone == nil {
			return func() {}
		}
		return expectDone
	}
	lane %= n
	bit := uint32(1) << lane
	r := int32(min(max(rmas, 1), busyRMAs))
	e.busy[lane].Add(r)
	if since := e.sinceLook[lane].Add(r); settled && since >= busyRMAs && since-r < busyRMAs {
		e.due.Or(bit)
		e.kick(true)
	}
	return func() {
		if e.busy[lane].Add(-r) == 0 {
			e.due.Or(bit)
		}
		if expectDone != nil {
			expectDone()
		}
	}
}

// quietBusy is the mask of busy lanes whose RMAs in flight and begun
// since their last look are fewer than busyRMAs.
func (e *Endpoint) quietBusy() uint32 {
	var mask uint32
	for l := range len(e.addrs) {
		if b := e.busy[l].Load(); b > 0 && b+e.sinceLook[l].Load() < busyRMAs {
			mask |= 1 << l
		}
	}
	return mask
}

// allSettled says every lane is settled: no first contact is pending.
func (e *Endpoint) allSettled() bool {
	n := len(e.addrs)
	return n > 1 && n < 32 && e.settled.Load() == uint32(1)<<n-1
}

// UnsettleLane undoes SettleLane: the owner progresses the lane at once
// again while callers expect RMA.
func (e *Endpoint) UnsettleLane(lane int) {
	if n := len(e.addrs); n > 1 {
		bit := uint32(1) << (lane % n)
		for old := e.settled.Load(); old&bit != 0 && !e.settled.CompareAndSwap(old, old&^bit); old = e.settled.Load() {
		}
	}
}

// ownerState is what only the holder of the turn lock touches.
type ownerState struct {
	slots     [numSlots]*post
	free      []uint32
	inflight  int
	ready     []*post // taken from the queue, not yet posted
	nap       time.Duration
	quietFrom time.Time       // the last Expect begun, or the last completion or post
	allLook   time.Time       // when every lane was last looked at
	busyLook  time.Time       // when busy lanes were last looked at
	held      bool            // the last turn skipped lanes a peer's copy held (skippableLanes)
	heldNap   time.Duration   // the owner's back-off while it does
	sinceLook [MaxLanes]int32 // per lane: the RMAs this turn's look counts as looked at

	// Peers whose last post the provider refused (-FI_EAGAIN: on shm, a
	// first contact the peer has not answered yet): their posts wait in
	// ready, in order, until the peer's retry time, while posts to other
	// peers are taken past them. Without this, a batch's worth of posts
	// to peers slow to answer sat at the front of ready and nothing
	// behind them was posted until they were answered
	// (TestStalledPeerDoesNotBlockOthers). fvb_run also defers, as
	// refused, posts it had no room to drain; they get the shortest
	// back-off.
	refused   map[Peer]refusal
	skip      []*post // this turn's posts held back for their peer
	turn      uint64
	lastPrune time.Time
}

// refusal is when a refused peer's posts are tried again, and the back-off
// that set it (doubling from minNap to maxNap while the peer refuses).
type refusal struct {
	until time.Time
	nap   time.Duration
	turn  uint64 // the owner turn that last set it (one doubling per turn)
}

// turnState is what a turn works with: the owner state and the C arrays
// handed to fvb_run. Only the holder of the endpoint's turn lock touches
// it.
type turnState struct {
	st         *ownerState
	cposts     *[maxBatch]C.fvb_post
	comps      *[maxComps]C.fvb_comp
	errbuf     *[C.FERRY_ERRLEN]C.char
	batch      []*post
	drainUntil time.Time
}

func (e *Endpoint) own(started chan<- struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(e.done)
	ts := &turnState{
		cposts: (*[maxBatch]C.fvb_post)(C.calloc(maxBatch, C.size_t(unsafe.Sizeof(C.fvb_post{})))),
		comps:  (*[maxComps]C.fvb_comp)(C.calloc(maxComps, C.size_t(unsafe.Sizeof(C.fvb_comp{})))),
		errbuf: (*[C.FERRY_ERRLEN]C.char)(C.malloc(C.FERRY_ERRLEN)),
		st:     &ownerState{free: make([]uint32, 0, numSlots)},
	}
	defer C.free(unsafe.Pointer(ts.cposts))
	defer C.free(unsafe.Pointer(ts.comps))
	defer C.free(unsafe.Pointer(ts.errbuf))
	for i := numSlots - 1; i >= 0; i-- {
		ts.st.free = append(ts.st.free, uint32(i))
	}
	e.turns = ts
	close(started)

	wait := new(waitFDs)
	for {
		e.turnMu.Lock()
		e.ownerTurns.Add(1)
		block, exit := e.turn(ts, true)
		if exit {
			e.turnMu.Unlock()
			return
		}
		n := 0
		if block != 0 {
			// The wait fds are read under the turn lock (fi_trywait
			// is a call on the endpoint's objects); the wait itself
			// is not, so callers may take turns meanwhile.
			n = e.waitFDs(wait)
		}
		e.turnMu.Unlock()
		if block != 0 && n > 0 {
			e.block(block, wait, n)
		}
		e.sleeping.Store(false)
	}
}

// callerTurn runs one turn on the calling goroutine's thread when no one
// else holds the turn lock and nothing of others is queued or in flight
// (the owner is idle): the posts just queued go to the provider at once,
// and a provider that completes them in the call (shm's CMA copies) has
// them done before the caller returns, with no thread woken on either
// side. Before, each post woke the owner and each completion woke the
// waiter: 32-40 µs per 16 KiB RMA on shm, against 6-8 µs this way
// (go test -bench Write/shm, FERRY_BENCH_OWNER_ONLY=1 for the former). The owner is kicked
// only if the turn leaves it something to drive (posts in flight or not
// yet taken, calls, a close). Calls (exec) and closing stay the owner's.
func (e *Endpoint) callerTurn() {
	if !e.turnMu.TryLock() {
		e.kick(false)
		return
	}
	ts := e.turns
	if ts != nil && (ts.st.inflight > 0 || len(ts.st.ready) > 0) {
		// The owner is busy with posts of others: ours wait with them.
		e.turnMu.Unlock()
		e.kick(false)
		return
	}
	more := false // nil: closed, and the close failed what was queued
	if ts != nil {
		e.callerTurnsTaken.Add(1)
		e.turn(ts, false)
		e.qmu.Lock()
		more = len(e.queue) > 0 || len(e.calls) > 0 || e.closing || ts.st.inflight > 0 || len(ts.st.ready) > 0 || ts.st.held
		e.qmu.Unlock()
	}
	e.turnMu.Unlock()
	if more {
		e.kick(true)
	}
}

// turn takes what goroutines queued, posts it, reaps completions and
// wakes their waiters; run with the turn lock held. For the owner it also
// runs queued calls and a close, and says how long the owner may block
// afterwards (0: go round again at once), or that it is done (exit: the
// endpoint is closed). A caller's turn (owner false) never blocks and
// leaves calls and closing to the owner.
func (e *Endpoint) turn(ts *turnState, owner bool) (block time.Duration, exit bool) {
	st, cposts, comps, errbuf := ts.st, ts.cposts, ts.comps, ts.errbuf
	var calls []func()
	e.qmu.Lock()
	closing := e.closing
	if owner {
		calls = e.calls
		e.calls = nil
	}
	if !closing || owner {
		st.ready = append(st.ready, e.queue...)
		clear(e.queue)
		e.queue = e.queue[:0]
	}
	e.qmu.Unlock()
	if closing && !owner {
		return 0, false
	}
	for _, f := range calls {
		f()
	}
	if closing {
		if ts.drainUntil.IsZero() {
			// Nothing queued is posted any more; what is
			// posted gets closeDrain to complete.
			for _, p := range st.ready {
				p.op.pieceDone(&OpError{Op: p.op.kind, Peer: p.peer, PeerAddr: e.peerString(p.peer), Provider: e.info.Provider,
					Bytes: p.op.bytes, Msg: "endpoint closed before the operation was posted", Err: ErrClosed})
			}
			st.ready = nil
			ts.drainUntil = time.Now().Add(closeDrain)
		}
		if st.inflight == 0 || time.Now().After(ts.drainUntil) {
			e.shutdown(st)
			e.turns = nil
			return 0, true
		}
	}

	// Take ready posts while there are slots; a post whose
	// context ended is failed here, never posted; one to a peer
	// that refused lately waits for its retry time.
	batch := ts.batch[:0]
	defer func() { clear(batch); ts.batch = batch[:0] }()
	st.turn++
	var now, retry time.Time // retry: the earliest held-back peer's
	if len(st.refused) > 0 {
		now = time.Now()
		st.pruneRefused(now)
	}
	for len(st.ready) > 0 && len(batch) < maxBatch && len(st.free) > 0 {
		p := st.ready[0]
		st.ready[0] = nil
		st.ready = st.ready[1:]
		if err := expired(p.op.ctx); err != nil {
			p.op.pieceDone(&OpError{Op: p.op.kind, Peer: p.peer, PeerAddr: e.peerString(p.peer), Provider: e.info.Provider,
				Bytes: p.op.bytes, Msg: "not posted: the caller's deadline passed", Err: err})
			continue
		}
		// Disconnect runs under the turn lock, so a peer seen
		// connected here is still in the address vector when posted.
		if !e.Connected(p.peer) {
			p.op.pieceDone(&OpError{Op: p.op.kind, Peer: p.peer, PeerAddr: "disconnected", Provider: e.info.Provider,
				Bytes: p.op.bytes, Msg: "not posted: the peer was disconnected", Err: ErrClosed})
			continue
		}
		if r, ok := st.refused[p.peer]; ok && now.Before(r.until) {
			st.skip = append(st.skip, p)
			if retry.IsZero() || r.until.Before(retry) {
				retry = r.until
			}
			continue
		}
		slot := st.free[len(st.free)-1]
		st.free = st.free[:len(st.free)-1]
		st.slots[slot] = p
		st.inflight++
		fillPost(&cposts[len(batch)], p, slot)
		batch = append(batch, p)
	}
	if len(st.skip) > 0 {
		// back in front of what was not looked at, in order
		st.ready = slices.Insert(st.ready, 0, st.skip...)
		clear(st.skip)
		st.skip = st.skip[:0]
	}

	lanes, skippable := e.lanesToLook(st)
	if owner && len(batch) == 0 && len(calls) == 0 && !closing {
		switch {
		case len(st.ready) > 0: // out of slots, or every peer waiting has refused lately
			block = maxNap
			if !retry.IsZero() {
				block = min(max(time.Until(retry), 0), maxNap)
			}
		case st.inflight > 0 || e.expect.Load() > 0:
			if e.info.WaitFD {
				block = idleBlock
				break
			}
			if e.expectOn.Swap(false) {
				st.nap = 0
				st.quietFrom = time.Now()
			}
			limit := maxNap
			if st.inflight == 0 {
				limit = maxExpectNap
				// Every peer has reached us (only command slots
				// to hand back), or peers this slow are loaded
				// (see settledLook, longExpect).
				if e.allSettled() || time.Since(st.quietFrom) > longExpect {
					limit = settledLook
				}
			}
			st.nap = min(max(st.nap*2, minNap), limit)
			block = st.nap
		default:
			block = idleBlock
			if !e.info.WaitFD {
				block = idleNoFD
			}
		}
		// Announce the sleep, then look once more, so a post
		// made in between is not missed (it kicks, or we see it).
		e.sleeping.Store(true)
		e.qmu.Lock()
		pending := len(e.queue) > 0 || len(e.calls) > 0 || e.closing
		e.qmu.Unlock()
		if pending {
			block = 0
		}
	} else if owner && closing {
		block = maxNap
	}
	var nposted C.int
	var skipped C.uint32_t
	n := int(C.fvb_run(e.c, &cposts[0], C.int(len(batch)), &nposted, &comps[0], maxComps,
		C.uint32_t(lanes), C.uint32_t(skippable), &skipped, &errbuf[0], C.FERRY_ERRLEN))
	if n != 0 || int(nposted) != 0 {
		block = 0
	}
	if skipped != 0 {
		// Read on a later turn, counted as not looked at.
		e.due.Or(uint32(skipped))
		for l := range len(e.addrs) {
			if uint32(skipped)&(1<<l) != 0 {
				e.sinceLook[l].Add(st.sinceLook[l])
			}
		}
		st.held = true
		if owner {
			st.heldNap = min(max(st.heldNap*2, minNap), maxNap)
			if block < 0 || block > st.heldNap { // < 0: no bound (tests)
				block = st.heldNap
			}
		}
	} else {
		st.held, st.heldNap = false, 0
	}

	// Posts the provider did not take (-FI_EAGAIN: a connection
	// coming up, a full queue) go back to the front, in order, and
	// their peers wait for a retry time; fvb_run moved them to the
	// end of cposts.
	if int(nposted) < len(batch) {
		back := make([]*post, 0, len(batch)-int(nposted))
		at := time.Now()
		for i := int(nposted); i < len(batch); i++ {
			slot := uint32(cposts[i].slot)
			p := st.slots[slot]
			back = append(back, p)
			st.slots[slot] = nil
			st.free = append(st.free, slot)
			st.inflight--
			st.refuse(p.peer, at)
		}
		st.ready = append(back, st.ready...)
	}
	if len(st.refused) > 0 {
		// A peer that took a post this turn refuses no longer
		// (fvb_run reordered cposts: batch says who was tried).
		for _, p := range batch {
			if r, ok := st.refused[p.peer]; ok && r.turn != st.turn {
				delete(st.refused, p.peer)
			}
		}
	}
	if n < 0 {
		// The CQ itself failed: nothing sensible but to try again.
		if owner {
			time.Sleep(time.Millisecond)
		}
		return 0, false
	}
	if n > 0 || int(nposted) > 0 {
		st.nap = 0
		st.quietFrom = time.Now()
	}
	for i := 0; i < n; i++ {
		c := &comps[i]
		slot := uint64(c.slot)
		if slot >= numSlots || st.slots[slot] == nil {
			continue
		}
		p := st.slots[slot]
		st.slots[slot] = nil
		st.free = append(st.free, uint32(slot))
		st.inflight--
		var err error
		if c.err != 0 {
			msg := C.GoString(&c.msg[0])
			if msg == "" || msg[:min(len(msg), 5)] != "post:" {
				msg = fmt.Sprintf("%s: %s", C.GoString(C.fvb_strerror(C.int(c.err))), msg)
			}
			err = &OpError{Op: p.op.kind, Peer: p.peer, PeerAddr: e.peerString(p.peer), Provider: e.info.Provider,
				Bytes: p.op.bytes, Errno: int(c.err), ProvErrno: int(c.prov_errno), Msg: msg}
		}
		p.op.pieceDone(err)
	}
	return block, false
}

// sysmonRetake is how long the Go runtime lets a thread hold its P in a
// system call before sysmon takes it back (and starts its 20 µs ticks
// again).
const sysmonRetake = 10 * time.Millisecond

// waitFDs is what the owner's block polls, kept between turns.
type waitFDs struct {
	pfd [1 + MaxLanes]unix.PollFd
	fds [MaxLanes]C.int // filled by fvb_wait_fds
}

// waitFDs fills w with what the owner's block polls: the kick eventfd
// and, where the provider has them, the lanes' wait fds. It returns how
// many, or 0 when the provider has events queued already (read them
// first). Run with the turn lock held.
func (e *Endpoint) waitFDs(w *waitFDs) int {
	pfd, fds := &w.pfd, &w.fds
	pfd[0] = unix.PollFd{Fd: int32(e.kickFD), Events: unix.POLLIN}
	n := 1
	if e.info.WaitFD {
		nf := int(C.fvb_wait_fds(e.c, &fds[0], MaxLanes))
		if nf < 0 {
			return 0
		}
		for _, fd := range fds[:nf] {
			pfd[n] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
			n++
		}
	}
	return n
}

// block waits until one of the n descriptors waitFDs filled in (a lane's
// wait fd or the kick eventfd) is readable, or d passes (d < 0: no
// bound). A wait of sysmonRetake or more is made without the thread's P
// (ppollReleasingP), so that Go's sysmon can sleep while the owner does;
// a shorter one as an ordinary system call, which wakes nobody else. The
// next turn reads what woke the owner.
func (e *Endpoint) block(d time.Duration, w *waitFDs, n int) {
	pfd := &w.pfd
	var tsp *unix.Timespec
	if d > 0 {
		ts := unix.NsecToTimespec(d.Nanoseconds())
		tsp = &ts
	}
	if d > 0 && d < sysmonRetake {
		// A short nap keeps the P, as a system call does: sysmon
		// leaves it alone and keeps its own long ticks.
		unix.Ppoll(pfd[:n], tsp, nil)
	} else {
		ppollReleasingP(&pfd[0], n, tsp)
	}
	if pfd[0].Revents != 0 {
		var buf [8]byte
		unix.Read(e.kickFD, buf[:]) // an eventfd's read takes its whole count
	}
}

// expired is ctx's error, or DeadlineExceeded once its deadline has
// passed even if its timer has not fired yet (a process resumed after a
// stop runs before its timers do).
func expired(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// refuse records that the provider refused a post to peer at time at:
// the peer's posts wait, backing off from minNap to maxNap while it keeps
// refusing (once per owner turn, however many of its posts were refused).
func (st *ownerState) refuse(peer Peer, at time.Time) {
	if st.refused == nil {
		st.refused = make(map[Peer]refusal)
	}
	r := st.refused[peer]
	if r.turn == st.turn {
		return
	}
	r.turn = st.turn
	r.nap = min(max(r.nap*2, minNap), maxNap)
	r.until = at.Add(r.nap)
	st.refused[peer] = r
}

// pruneRefused forgets, now and then, peers that refused long ago and
// were not posted to since (disconnected, or their callers gave up).
func (st *ownerState) pruneRefused(now time.Time) {
	if now.Sub(st.lastPrune) < time.Second {
		return
	}
	st.lastPrune = now
	for p, r := range st.refused {
		if now.Sub(r.until) > time.Second {
			delete(st.refused, p)
		}
	}
}

func fillPost(c *C.fvb_post, p *post, slot uint32) {
	c.slot = C.uint64_t(slot)
	c.peer = C.uint64_t(p.peer.index())
	c.raddr = C.uint64_t(p.raddr)
	c.key = C.uint64_t(p.key)
	c.flags = 0
	if p.write && p.op.e.dc {
		c.flags = C.FI_DELIVERY_COMPLETE
	}
	c.is_write = 0
	if p.write {
		c.is_write = 1
	}
	c.count = C.uint32_t(p.n)
	c.deadline_ns = 0
	if d, ok := p.op.ctx.Deadline(); ok {
		c.deadline_ns = C.int64_t(d.UnixNano())
	}
	for i := 0; i < p.n; i++ {
		c.laddr[i] = C.uint64_t(p.laddr[i])
		c.llen[i] = C.uint64_t(p.llen[i])
		c.lmr[i] = p.lmr[i]
	}
}

// shutdown runs on the owner thread: after it the provider touches no
// memory of ours.
func (e *Endpoint) shutdown(st *ownerState) {
	e.kickMu.Lock()
	e.kickClosed = true // fvb_close closes the eventfd
	e.kickMu.Unlock()
	var errbuf [C.FERRY_ERRLEN]C.char
	var errs []error
	if rc := C.fvb_close_endpoint(e.c, &errbuf[0], C.FERRY_ERRLEN); rc != 0 {
		errs = append(errs, fmt.Errorf("verbs: close %s: %s", e.info.Provider, cstr(errbuf[:])))
	}
	for i, p := range st.slots {
		if p != nil {
			st.slots[i] = nil
			p.op.pieceDone(&OpError{Op: p.op.kind, Peer: p.peer, PeerAddr: e.peerString(p.peer), Provider: e.info.Provider,
				Bytes: p.op.bytes, Msg: "endpoint closed with the operation in flight", Err: ErrClosed})
		}
	}
	st.inflight = 0
	e.mu.Lock()
	mrs := e.mrs
	e.mrs = map[*MemoryRegion]struct{}{}
	e.mu.Unlock()
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
	e.closeErr = errors.Join(errs...)
}

// lanesToLook is the mask of lanes this turn reads: all of them, except
// that settled lanes are skipped between looks settledLook apart, and
// settled lanes busy with a peer's RMA (LaneBusy) between looks busyLook
// apart, while the owner has nothing of its own in flight (lane 0
// carries our own operations). A lane whose busy spell ended is read on
// this turn. A provider with a wait fd wakes the owner for what each lane
// has, so there every lane is read every turn. Lanes a peer's copy holds
// now may be left for a later turn (skippableLanes).
func (e *Endpoint) lanesToLook(st *ownerState) (mask, skippable uint32) {
	mask = ^uint32(0)
	if settled := e.settled.Load(); settled != 0 && !e.info.WaitFD {
		mask = ^settled | e.due.Swap(0)
		if now := time.Now(); now.Sub(st.allLook) >= settledLook {
			st.allLook = now
			if now.Sub(st.busyLook) >= busyLook {
				st.busyLook = now
				mask = ^uint32(0)
			} else {
				mask |= settled &^ e.quietBusy()
			}
		}
	}
	own := st.inflight > 0 || len(st.ready) > 0
	if own {
		mask |= 1
	}
	skippable = e.skippableLanes(mask, own)
	for l := range len(e.addrs) {
		if mask&(1<<l) != 0 {
			st.sinceLook[l] = e.sinceLook[l].Swap(0)
		}
	}
	return mask, skippable
}

// skippableLanes is the part of mask that fvb_run may leave unread when
// a peer holds the lane's region lock at the moment of the read (shm: a
// peer holds our region's lock for the whole of each copy into it, and
// progress takes the lock whenever a command waits). Reading such a lane
// would spin in libfabric until the copy ends, up to a millisecond per
// 4 MiB, or for as long as the peer is descheduled meanwhile: with 4
// servers reading into one client on 2 CPUs, those spins were 46 % of
// the client's CPU and 7 % of the machine's. A skipped lane is read on a
// later turn, and the owner comes back soon (heldNap). Lane 0 is read
// regardless while we have operations of our own on it, and so is a lane
// with forceLookRMAs or more RMAs begun since its last look, before its
// peer can run out of command slots.
func (e *Endpoint) skippableLanes(mask uint32, own bool) uint32 {
	if len(e.locks) != len(e.addrs) {
		return 0
	}
	var skippable uint32
	for l := range e.locks {
		bit := uint32(1) << l
		if mask&bit == 0 || (l == 0 && own) || e.sinceLook[l].Load() >= forceLookRMAs {
			continue
		}
		skippable |= bit
	}
	return skippable
}
