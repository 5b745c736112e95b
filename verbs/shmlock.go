//go:build cgo

package verbs

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A shm peer that dies while it holds one of our regions' locks leaves
// the lock held for good. libfabric 1.17's shm keeps a spin lock in each
// endpoint's shared region, and a peer that copies into our memory (a
// server's RMA into a client's lane) holds our region's lock for the
// whole copy. A server killed with -9 in the middle of one left the
// client's owner spinning on that lock forever: every later call on the
// endpoint hung, Close with it, and a core stayed busy (the soak test
// found it).
//
// The lock watchdog maps the first page of each of our lanes' regions and
// looks at the lock word. When it has seen the word held with one
// unchanging value for lockStuckAfter (a copy holds it for about a
// millisecond per 4 MiB, and its waiters change the value) while the
// lane's peer (SetLanePeer, recorded when the hold was first seen) is
// gone, it stores the unlocked value, as pthread_spin_unlock does: the
// waiting owner goes on, and a restarted peer's first RMA too. A peer
// that dies between reserving and committing a command leaves the queue
// as it was (shm commits a command after its copy), so what the peer was
// doing is lost, which its connection's loss reports anyway. The
// watchdog only knows peers by pid, which a client learns from the
// kernel on the Unix socket of its control connection; on another
// transport, or with a region layout other than the one checked at open,
// it stays off.

// smrVersion and smrLockOffset describe libfabric 1.17's struct
// smr_region: version (u8), resv (u8), flags (u16), pid (int), four caps
// bytes, base_addr (pointer), then the lock. Checked against the region
// itself at open (version, our pid, a free lock); anything else turns
// the watchdog off for that region.
const (
	smrVersion    = 4
	smrPidOffset  = 4
	smrLockOffset = 24
	// The region's signal (an int32 after the lock): a peer sets it when
	// it has queued a command for us, and progress takes the lock only if
	// it finds it set (fvb_run skips a held lane then).
	smrSignalOffset = 28
)

const (
	lockStuckAfter = 2 * time.Second
	lockIdleLook   = time.Second           // while every lock is free
	lockBusyLook   = 10 * time.Millisecond // while one is held
	lockLastLook   = 20 * time.Millisecond // loads without a pause before a lock is freed
	// formerKeep is how long a lane's replaced peer stays a candidate
	// holder: until the watchdog's next look has seen the lock, which
	// then keeps it with the hold it watches.
	formerKeep = 3 * lockIdleLook
)

// laneLock is the lock word of one lane's region, as the watchdog sees it.
type laneLock struct {
	lane     int
	mem      []byte // the region's first page
	word     *int32
	signal   *int32
	unlocked int32
	peer     atomic.Int32 // the lane's peer's pid (SetLanePeer); 0: unknown

	formerMu sync.Mutex
	formers  map[int32]time.Time // peers SetLanePeer replaced, and when

	// The watchdog's own: since when the lock has been seen held without
	// a look finding it free, and who could hold it then.
	heldSince time.Time
	heldBy    []int32
}

// mapLaneLock maps the region named by a shm address of ours and checks
// its layout. The lock must be free: call it before the owner starts.
func mapLaneLock(lane int, addr []byte) (*laneLock, error) {
	name := strings.TrimPrefix(string(bytes.TrimRight(addr, "\x00")), shmPrefix)
	if name == string(addr) || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("not a shm address: %q", addr)
	}
	f, err := os.OpenFile("/dev/shm/"+name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", name, err)
	}
	l := &laneLock{lane: lane, mem: mem, word: (*int32)(unsafe.Pointer(&mem[smrLockOffset])),
		signal: (*int32)(unsafe.Pointer(&mem[smrSignalOffset]))}
	pid := *(*int32)(unsafe.Pointer(&mem[smrPidOffset]))
	l.unlocked = atomic.LoadInt32(l.word)
	if mem[0] != smrVersion || int(pid) != os.Getpid() || (l.unlocked != 0 && l.unlocked != 1) {
		unix.Munmap(mem)
		return nil, fmt.Errorf("region %s: version %d, pid %d, lock word %d: not the layout the watchdog knows", name, mem[0], pid, l.unlocked)
	}
	return l, nil
}

func (l *laneLock) unmap() { unix.Munmap(l.mem) }

// look is one look at the lock; it reports whether it freed a lock a dead
// process held. A hold seen while a candidate holder (peers returns them)
// is gone starts a watch, with looks lockBusyLook apart, so the hold
// counts as one only if the lock is never free for that long: a peer's
// copies leave it free between them, and a restarted peer takes far
// longer than that to reach the lane, so a hold that never pauses for
// lockStuckAfter, with a candidate of its start gone, is taken to be the
// dead one's.
func (l *laneLock) look(now time.Time, peers func(*laneLock) []int32) (freed bool, heldFor time.Duration) {
	v := atomic.LoadInt32(l.word)
	switch {
	case v == l.unlocked:
		l.heldSince = time.Time{}
		return false, 0
	case l.heldSince.IsZero():
		// A hold with every candidate alive is a live one's: looking at
		// it closely would only cost the copies that hold it.
		if c := peers(l); anyGone(c) {
			l.heldSince, l.heldBy = now, c
		}
		return false, 0
	case now.Sub(l.heldSince) < lockStuckAfter || !anyGone(l.heldBy):
		return false, 0
	}
	// A last, close look: a lock that live peers take in turn, back to
	// back (several servers' copies into one lane), can be held at every
	// look 10 ms apart, but not for a whole burst of loads.
	if l.seenFree(lockLastLook) {
		l.heldSince = time.Time{}
		return false, 0
	}
	// Free it, unless a waiter moved the word since (the next look will).
	if !atomic.CompareAndSwapInt32(l.word, v, l.unlocked) {
		return false, 0
	}
	heldFor, l.heldSince = now.Sub(l.heldSince), time.Time{}
	return true, heldFor
}

// seenFree loads the lock word for d and reports whether it was free at
// any load.
func (l *laneLock) seenFree(d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 1000 {
			if atomic.LoadInt32(l.word) == l.unlocked {
				return true
			}
		}
	}
	return false
}

func anyGone(pids []int32) bool {
	for _, p := range pids {
		if p > 0 && !processAlive(int(p)) {
			return true
		}
	}
	return false
}

// processAlive reports whether pid is a process that has not exited:
// pidAlive, except that a zombie, which holds no lock, counts as gone.
func processAlive(pid int) bool {
	if !pidAlive(pid) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// SetLanePeer tells the lock watchdog which process uses lane now (a
// server's pid, from its Unix socket's peer credentials; 0 when
// unknown). Without it, the candidate holders of a lane's lock are the
// peers in the address vector (and those that left it lately): how a
// server's endpoint knows its clients.
func (e *Endpoint) SetLanePeer(lane, pid int) {
	if len(e.locks) == 0 {
		return
	}
	l := e.locks[lane%len(e.locks)]
	if old := l.peer.Swap(int32(pid)); old > 0 && old != int32(pid) {
		// The peer it replaces (a server that died and was started
		// again) may still hold the lane's lock: it stays a candidate.
		l.formerMu.Lock()
		if l.formers == nil {
			l.formers = make(map[int32]time.Time)
		}
		l.formers[old] = time.Now()
		l.formerMu.Unlock()
	}
	if pid > 0 {
		e.startLockWatch()
	}
}

// LocksFreed is how many locks of this endpoint's regions the watchdog
// freed after their holder died.
func (e *Endpoint) LocksFreed() int64 { return e.locksFreed.Load() }

// watchLocks looks at the lanes' locks until stop closes.
func (e *Endpoint) watchLocks(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTimer(lockIdleLook)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		next := lockIdleLook
		for _, l := range e.locks {
			if freed, heldFor := l.look(now, e.lockCandidates); freed {
				e.locksFreed.Add(1)
				slog.Warn("verbs: freed a shm region lock whose holder died", "lane", l.lane,
					"held_for", heldFor.Round(time.Millisecond), "candidates", l.heldBy)
			}
			if !l.heldSince.IsZero() {
				next = lockBusyLook
			}
		}
		t.Reset(next)
	}
}

// mapLaneLocks maps the lanes' regions for the watchdog, which starts at
// the first SetLanePeer; a region it cannot map or does not recognize
// leaves it off.
func (e *Endpoint) mapLaneLocks() {
	for l, a := range e.addrs {
		ll, err := mapLaneLock(l, a)
		if err != nil {
			slog.Debug("verbs: no shm lock watchdog", "err", err)
			for _, m := range e.locks {
				m.unmap()
			}
			e.locks = nil
			return
		}
		e.locks = append(e.locks, ll)
	}
}

// startLockWatch starts the watchdog once, unless the endpoint is closed.
func (e *Endpoint) startLockWatch() {
	e.lockMu.Lock()
	defer e.lockMu.Unlock()
	if e.lockStop != nil || e.lockOff {
		return
	}
	e.lockStop, e.lockDone = make(chan struct{}), make(chan struct{})
	go e.watchLocks(e.lockStop, e.lockDone)
}

// stopLockWatch stops the watchdog and unmaps the regions. The watchdog
// takes lockMu for its candidates: it is waited for without it.
func (e *Endpoint) stopLockWatch() {
	e.lockMu.Lock()
	e.lockOff = true
	stop, done := e.lockStop, e.lockDone
	e.lockMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	for _, l := range e.locks {
		l.unmap() // SetLanePeer may still store a pid: it touches no mapping
	}
}

// peerGoneKeep is how long a peer that left the address vector still
// counts as a candidate holder: a client that dies holding our lock
// leaves (its connection closes) before the watchdog may look.
const peerGoneKeep = 10 * time.Second

// lockCandidates are the processes that may hold l: the lane's peer when
// it is known, with the peers it replaced in the last formerKeep (a
// client that reconnected to a restarted server before the watchdog's
// look saw only the new, live one, and left the dead one's hold for
// good), else the address vector's peers and those that left it in the
// last peerGoneKeep.
func (e *Endpoint) lockCandidates(l *laneLock) []int32 {
	now := time.Now()
	if p := l.peer.Load(); p > 0 {
		pids := []int32{p}
		l.formerMu.Lock()
		defer l.formerMu.Unlock()
		for pid, left := range l.formers {
			if now.Sub(left) < formerKeep && pid != p {
				pids = append(pids, pid)
			} else {
				delete(l.formers, pid)
			}
		}
		return pids
	}
	e.lockMu.Lock()
	defer e.lockMu.Unlock()
	var pids []int32
	for pid, left := range e.lockPeers {
		switch {
		case left.IsZero() || now.Sub(left) < peerGoneKeep:
			pids = append(pids, pid)
		default:
			delete(e.lockPeers, pid)
		}
	}
	return pids
}

// lockPeerJoined records a peer put in the address vector (under e.mu),
// and starts the watchdog.
func (e *Endpoint) lockPeerJoined(addr []byte) {
	pid, _, err := ParseShmAddress(addr)
	if err != nil || len(e.locks) == 0 {
		return
	}
	e.lockMu.Lock()
	if e.lockPeers == nil {
		e.lockPeers = make(map[int32]time.Time)
	}
	e.lockPeers[int32(pid)] = time.Time{}
	e.lockMu.Unlock()
	e.startLockWatch()
}

// lockPeerLeft records a peer taken out of the address vector (under e.mu).
func (e *Endpoint) lockPeerLeft(addr []byte) {
	pid, _, err := ParseShmAddress(addr)
	if err != nil || len(e.locks) == 0 {
		return
	}
	e.lockMu.Lock()
	if _, ok := e.lockPeers[int32(pid)]; ok {
		e.lockPeers[int32(pid)] = time.Now()
	}
	e.lockMu.Unlock()
}
