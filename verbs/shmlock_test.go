//go:build cgo

package verbs

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/testenv"
)

const (
	holdLockEnv         = "FERRY_VERBS_TEST_HOLD_LOCK"
	holdLockEndpointEnv = "FERRY_VERBS_TEST_HOLD_LOCK_ENDPOINT"
)

// holdLockMain is a peer that takes a region's lock the way a server's
// copy into a client does, and keeps it: it maps the region, sets the
// lock word to held, says HELD, and on a line RELEASE frees it. With
// holdLockEndpointEnv set it first opens a shm endpoint of its own and
// says ADDR and its address in hex (a client, as its server sees it).
func holdLockMain(name string) int {
	if os.Getenv(holdLockEndpointEnv) != "" {
		e, err := Open(Config{Provider: "shm"})
		if err != nil {
			fmt.Printf("ERR %v\n", err)
			return 1
		}
		defer e.Close()
		fmt.Printf("ADDR %x\n", e.Address())
	}
	f, err := os.OpenFile("/dev/shm/"+name, os.O_RDWR, 0)
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		return 1
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		return 1
	}
	word := (*int32)(unsafe.Pointer(&mem[smrLockOffset]))
	free := atomic.LoadInt32(word)
	if !atomic.CompareAndSwapInt32(word, free, 1-free) {
		fmt.Println("ERR lock not free")
		return 1
	}
	// As a peer that has queued us a command before this copy: our
	// progress now takes the lock.
	atomic.StoreInt32((*int32)(unsafe.Pointer(&mem[smrSignalOffset])), 1)
	fmt.Println("HELD")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "RELEASE" {
			atomic.StoreInt32(word, free)
			fmt.Println("RELEASED")
		}
	}
	return 0
}

// lockHolder starts a holdLockMain process on lane's region of e.
func lockHolder(t *testing.T, e *Endpoint, lane int) (cmd *exec.Cmd, release func()) {
	cmd, _, release = startLockHolder(t, e, lane, false)
	return cmd, release
}

// startLockHolder is lockHolder; with endpoint the holder also opens a
// shm endpoint, whose address it returns.
func startLockHolder(t *testing.T, e *Endpoint, lane int, endpoint bool) (cmd *exec.Cmd, addr []byte, release func()) {
	t.Helper()
	name := strings.TrimPrefix(string(bytes.TrimRight(e.LaneAddress(lane), "\x00")), shmPrefix)
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+name)
	if endpoint {
		cmd.Env = append(cmd.Env, holdLockEndpointEnv+"=1")
	}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if endpoint {
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ADDR ") {
			t.Fatalf("lock holder: %q", sc.Text())
		}
		a, err := hex.DecodeString(strings.TrimPrefix(sc.Text(), "ADDR "))
		if err != nil {
			t.Fatal(err)
		}
		addr = a
	}
	if !sc.Scan() || sc.Text() != "HELD" {
		t.Fatalf("lock holder: %q", sc.Text())
	}
	return cmd, addr, func() {
		fmt.Fprintln(in, "RELEASE")
		if !sc.Scan() || sc.Text() != "RELEASED" {
			t.Fatalf("lock holder: %q", sc.Text())
		}
	}
}

func openLanes(t *testing.T, lanes int) *Endpoint {
	t.Helper()
	e, err := Open(Config{Provider: "shm", Lanes: lanes})
	if errors.Is(err, ErrNotSupported) {
		testenv.SkipOrFail(t, "provider shm: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(e.locks) != lanes {
		e.Close()
		t.Fatalf("no lock watchdog on this libfabric's shm regions (%d of %d lanes mapped)", len(e.locks), lanes)
	}
	return e
}

// closeWithin closes e, failing the test if that takes longer than d (an
// owner stuck on a lock never returns).
func closeWithin(t *testing.T, e *Endpoint, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("Close still waiting after %v: the owner is stuck", d)
	}
}

// stuckWrite starts a 1 MiB RMA write by a new endpoint into e at addr,
// whose owner spins on the lock while it is held, and returns a wait
// that fails the test unless the write completes with the right bytes
// within lockStuckAfter+10s of being called, then closes the writer.
func stuckWrite(t *testing.T, e *Endpoint, addr []byte, seed int64) (wait func()) {
	t.Helper()
	a, err := Open(Config{Provider: "shm"})
	if err != nil {
		t.Fatal(err)
	}
	dst, src := mmapBuf(t, 1<<20), mmapBuf(t, 1<<20)
	fill(src, seed)
	md := reg(t, e, dst, AccessRemoteWrite)
	ms := reg(t, a, src, AccessLocal)
	rb, err := md.Remote(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := a.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	rma := make(chan error, 1)
	go func() { rma <- a.Do(testCtx(t), RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 1<<20), Remote: rb}) }()
	time.Sleep(100 * time.Millisecond) // a's owner now spins on the lock
	return func() {
		t.Helper()
		select {
		case err := <-rma:
			if err != nil {
				t.Fatalf("RMA into the locked region: %v", err)
			}
		case <-time.After(lockStuckAfter + 10*time.Second):
			t.Fatalf("RMA into the locked region still waiting %v after its lock's holder died", lockStuckAfter+10*time.Second)
		}
		if !bytes.Equal(dst, src) {
			t.Fatal("RMA into the locked region: data differ")
		}
		closeWithin(t, a, 10*time.Second)
	}
}

// TestDeadPeersLockFreed: a peer killed while it holds a lane's lock has
// the lock freed by the watchdog. Meanwhile another peer's RMA into the
// lane spins on that lock inside its owner (as a restarted server's
// would; without the watchdog it never returns, whatever its context
// says): it completes, with the right bytes, and both endpoints close.
func TestDeadPeersLockFreed(t *testing.T) { deadHolderFreed(t, 7, nil) }

// TestReplacedPeersLockFreed: a lane's peer killed while it holds the
// lane's lock and replaced at once by a live one (a client reconnected to
// the restarted server before the watchdog looked) still has its lock
// freed: the replaced peer stays a candidate holder.
func TestReplacedPeersLockFreed(t *testing.T) {
	deadHolderFreed(t, 8, func(e *Endpoint) { e.SetLanePeer(1, os.Getpid()) }) // the new peer: alive
}

// deadHolderFreed kills the peer holding lane 1's lock while another
// peer's RMA spins on it, runs afterKill (if any), and checks that the
// watchdog frees the lock once, the RMA completes and e closes.
func deadHolderFreed(t *testing.T, seed int64, afterKill func(*Endpoint)) {
	e := openLanes(t, 2)
	holder, _ := lockHolder(t, e, 1)
	e.SetLanePeer(1, holder.Process.Pid)
	stopExpect := e.Expect()
	wait := stuckWrite(t, e, e.LaneAddress(1), seed)
	holder.Process.Kill()
	holder.Wait()
	if afterKill != nil {
		afterKill(e)
	}
	wait()
	if n := e.LocksFreed(); n != 1 {
		t.Fatalf("LocksFreed = %d, want 1", n)
	}
	stopExpect()
	closeWithin(t, e, 10*time.Second)
}

// TestLivePeersLockKept: a lock held past lockStuckAfter by a peer that
// is alive (stopped, slow) is not touched; and without a known peer no
// lock is ever freed.
func TestLivePeersLockKept(t *testing.T) {
	e := openLanes(t, 2)
	holder, release := lockHolder(t, e, 0)
	e.SetLanePeer(0, holder.Process.Pid)
	time.Sleep(lockStuckAfter + time.Second)
	if n := e.LocksFreed(); n != 0 {
		t.Fatalf("the watchdog freed %d locks of a live peer", n)
	}
	if v := atomic.LoadInt32(e.locks[0].word); v == e.locks[0].unlocked {
		t.Fatal("lock word free while the peer holds it")
	}
	release()

	// Lane 1: held by a peer the endpoint was never told of, which dies.
	other, _ := lockHolder(t, e, 1)
	other.Process.Kill()
	other.Wait()
	time.Sleep(lockStuckAfter + time.Second)
	if n := e.LocksFreed(); n != 0 {
		t.Fatalf("the watchdog freed %d locks without knowing their holder", n)
	}
	atomic.StoreInt32(e.locks[1].word, e.locks[1].unlocked) // as the dead peer would have
	closeWithin(t, e, 10*time.Second)
}

// TestDeadClientsLockFreed: on a server's endpoint, which knows its
// clients only from its address vector, a client killed while it holds
// the endpoint's lock has it freed once its address has left the vector
// (its connection closed), and another peer's RMA stuck on the lock
// completes.
func TestDeadClientsLockFreed(t *testing.T) {
	e := openLanes(t, 1)
	holder, addr, _ := startLockHolder(t, e, 0, true)
	p, err := e.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	stopExpect := e.Expect()
	wait := stuckWrite(t, e, e.Address(), 9)
	holder.Process.Kill()
	holder.Wait()
	if err := e.Disconnect(p); err != nil { // as the server does when the connection closes
		t.Fatal(err)
	}
	wait()
	if n := e.LocksFreed(); n != 1 {
		t.Fatalf("LocksFreed = %d, want 1", n)
	}
	stopExpect()
	closeWithin(t, e, 10*time.Second)
}

// TestHeldLaneSkipped: a lane whose lock a peer holds (as a server's copy
// into a client holds it) is skipped by the turns that would read it, so
// the endpoint's own operations go on meanwhile; once the lock is free
// the lane is read again (a new peer's first contact on it completes).
// Without the skip, the owner spins on the held lock inside libfabric
// with the turn lock held, and the write below never completes.
func TestHeldLaneSkipped(t *testing.T) {
	e := openLanes(t, 2)
	defer closeWithin(t, e, 10*time.Second)
	_, release := lockHolder(t, e, 1)
	stopExpect := e.Expect() // the owner polls every lane, lane 1 too
	defer stopExpect()

	// Our own write, from lane 0, into another endpoint.
	b, err := Open(Config{Provider: "shm"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, b, 10*time.Second)
	dst, src := mmapBuf(t, 64<<10), mmapBuf(t, 64<<10)
	fill(src, 11)
	stopB := b.Expect() // b is the target of a first contact
	defer stopB()
	md := reg(t, b, dst, AccessRemoteWrite)
	ms := reg(t, e, src, AccessLocal)
	rb, err := md.Remote(0, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := e.Connect(b.Address())
	if err != nil {
		t.Fatal(err)
	}
	rma := make(chan error, 1)
	go func() { rma <- e.Do(testCtx(t), RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 64<<10), Remote: rb}) }()
	select {
	case err := <-rma:
		if err != nil {
			t.Fatalf("write while lane 1 is held: %v", err)
		}
	case <-time.After(10 * time.Second):
		release() // lets a stuck owner go, so the endpoint closes
		t.Fatal("write while lane 1 is held: not done after 10 s (the owner is stuck on the held lane)")
	}
	if !bytes.Equal(dst, src) {
		t.Fatal("write while lane 1 is held: data differ")
	}
	if got := e.skippableLanes(^uint32(0), true); got != 2 {
		t.Fatalf("skippableLanes = %b with operations of our own: want lane 1 only", got)
	}
	e.turnMu.Lock() // no turn resets the count meanwhile
	e.sinceLook[1].Store(forceLookRMAs)
	got := e.skippableLanes(^uint32(0), false)
	e.sinceLook[1].Store(0)
	e.turnMu.Unlock()
	if got&2 != 0 {
		t.Fatalf("skippableLanes = %b with %d RMAs since lane 1's last look: want it read", got, forceLookRMAs)
	}

	// Freed, lane 1 is read again: a new peer's first contact there
	// (refused until the lane is progressed) completes.
	release()
	a, err := Open(Config{Provider: "shm"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, a, 10*time.Second)
	dst1, src1 := mmapBuf(t, 64<<10), mmapBuf(t, 64<<10)
	fill(src1, 12)
	md1 := reg(t, e, dst1, AccessRemoteWrite)
	ms1 := reg(t, a, src1, AccessLocal)
	rb1, err := md1.Remote(0, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := a.Connect(e.LaneAddress(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Do(testCtx(t), RMA{Kind: Write, Peer: p1, Local: One(ms1, 0, 64<<10), Remote: rb1}); err != nil {
		t.Fatalf("first contact on lane 1 after its lock was freed: %v", err)
	}
	if !bytes.Equal(dst1, src1) {
		t.Fatal("first contact on lane 1: data differ")
	}
}

// TestSeenFreeCatchesShortGaps: the watchdog's last look before freeing
// a lock sees the moments between live holders' turns, however short,
// and never sees a lock that stays held.
func TestSeenFreeCatchesShortGaps(t *testing.T) {
	var word int32 = 1 // held; 0 is free
	l := &laneLock{word: &word, unlocked: 0}
	if l.seenFree(lockLastLook) {
		t.Fatal("a lock held all along seen free")
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // holders in turn: each holds it about 1 ms, the next takes it about 1 µs later
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			atomic.StoreInt32(&word, 0)
			for end := time.Now().Add(time.Microsecond); time.Now().Before(end); {
			}
			atomic.StoreInt32(&word, 1)
			for end := time.Now().Add(time.Millisecond); time.Now().Before(end); {
			}
		}
	}()
	// A loaded machine may not run the holders during a burst at all (as
	// a descheduled live holder would keep the lock through one): some
	// burst within a second must see them.
	seen := false
	for i := 0; i < 50 && !seen; i++ {
		seen = l.seenFree(lockLastLook)
		runtime.Gosched()
	}
	close(stop)
	<-done
	if !seen {
		t.Fatal("a lock taken in turn by live holders never seen free in the last look")
	}
}
