//go:build cgo

package regcache

import (
	"errors"
	"github.com/ferry-hpc/ferry/internal/testenv"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ferry-hpc/ferry/verbs"
)

var pg = os.Getpagesize()

// upg is the page size as a uintptr, for address arithmetic.
var upg = uintptr(pg)

const rw = verbs.AccessLocal | verbs.AccessRemoteWrite

// ptr turns an address into a pointer without arithmetic (see pageBase).
func ptr(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

var eps struct {
	sync.Mutex
	opened []*verbs.Endpoint
}

// openShm opens a shm endpoint, skipping the test if the provider is not
// available. Endpoints are closed by TestMain.
func openShm(tb testing.TB) *verbs.Endpoint {
	tb.Helper()
	ep, err := verbs.Open(verbs.Config{Provider: "shm"})
	if errors.Is(err, verbs.ErrNotSupported) {
		testenv.SkipOrFail(tb, "shm provider not available: %v", err)
	}
	if err != nil {
		tb.Fatalf("verbs.Open(shm): %v", err)
	}
	eps.Lock()
	eps.opened = append(eps.opened, ep)
	eps.Unlock()
	return ep
}

var sharedEP struct {
	once sync.Once
	ep   *verbs.Endpoint
}

func endpoint(tb testing.TB) *verbs.Endpoint {
	tb.Helper()
	sharedEP.once.Do(func() {
		ep, err := verbs.Open(verbs.Config{Provider: "shm"})
		if err == nil {
			sharedEP.ep = ep
			eps.Lock()
			eps.opened = append(eps.opened, ep)
			eps.Unlock()
		}
	})
	if sharedEP.ep == nil {
		return openShm(tb) // reports the reason
	}
	return sharedEP.ep
}

func TestMain(m *testing.M) {
	rc := m.Run()
	eps.Lock()
	for _, ep := range eps.opened {
		ep.Close()
	}
	eps.Unlock()
	os.Exit(rc)
}

// countingReg wraps a real endpoint and counts registrations; tag, if set,
// is called before each registration and its result remembered per region.
type countingReg struct {
	ep   *verbs.Endpoint
	tag  func(p uintptr, n int) any
	mu   sync.Mutex
	n    int
	tags map[*verbs.MemoryRegion]any
}

func (r *countingReg) Register(p unsafe.Pointer, n int, acc verbs.Access) (*verbs.MemoryRegion, error) {
	var tg any
	if r.tag != nil {
		tg = r.tag(uintptr(p), n)
	}
	mr, err := r.ep.Register(p, n, acc)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.n++
		if r.tag != nil {
			if r.tags == nil {
				r.tags = map[*verbs.MemoryRegion]any{}
			}
			r.tags[mr] = tg
		}
	}
	return mr, err
}

func (r *countingReg) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *countingReg) tagOf(mr *verbs.MemoryRegion) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tags[mr]
}

// newCache makes a cache over the shared shm endpoint; needMonitor skips
// the test when userfaultfd is unavailable.
func newCache(tb testing.TB, opt Options, needMonitor bool) (*Cache, *countingReg) {
	tb.Helper()
	r := &countingReg{ep: endpoint(tb)}
	opt.Logf = tb.Logf
	c, err := New(r, opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if needMonitor && !c.Stats().Enabled {
		testenv.SkipOrFail(tb, "no memory monitor: %s", c.Stats().Monitor)
	}
	return c, r
}

func acquire(tb testing.TB, c *Cache, p uintptr, n int, acc verbs.Access) *Handle {
	tb.Helper()
	h, err := c.Acquire(ptr(p), n, acc)
	if err != nil {
		tb.Fatalf("Acquire(%#x, %d, %v): %v", p, n, acc, err)
	}
	checkHandle(tb, h, p, n)
	return h
}

func checkHandle(tb testing.TB, h *Handle, p uintptr, n int) {
	tb.Helper()
	mr := h.MR()
	if got := uintptr(mr.Base()) + uintptr(h.Offset()); got != p {
		tb.Fatalf("handle for %#x: MR base %p + offset %d = %#x", p, mr.Base(), h.Offset(), got)
	}
	if h.Offset()+uint64(n) > uint64(mr.Len()) {
		tb.Fatalf("handle for %#x+%d: offset %d past MR length %d", p, n, h.Offset(), mr.Len())
	}
}

func mmapAnon(tb testing.TB, n int) uintptr {
	tb.Helper()
	a, _, e := syscall.Syscall6(syscall.SYS_MMAP, 0, uintptr(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS, ^uintptr(0), 0)
	if e != 0 {
		tb.Fatalf("mmap %d: %v", n, e)
	}
	return a
}

const mapFixedNoreplace = 0x100000

// mmapFixed maps fresh memory at addr, which must be free. It uses
// MAP_FIXED_NOREPLACE: in a multi-threaded process the runtime or libc may
// have put something into the hole since it was unmapped, and MAP_FIXED
// would silently destroy it; then the test is skipped instead.
func mmapFixed(tb testing.TB, addr uintptr, n int) {
	tb.Helper()
	a, _, e := syscall.Syscall6(syscall.SYS_MMAP, addr, uintptr(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|mapFixedNoreplace, ^uintptr(0), 0)
	if e == syscall.EEXIST {
		tb.Skipf("address %#x was taken by another mapping after munmap", addr)
	}
	if e != 0 || a != addr {
		tb.Fatalf("mmap fixed %#x+%d: %#x %v", addr, n, a, e)
	}
}

// mmapOver replaces the memory at [addr, addr+n), which must be mapped by
// the test, with fresh memory in one step (MAP_FIXED over it: the kernel
// unmaps the old memory, reporting UNMAP, and leaves no hole).
func mmapOver(tb testing.TB, addr uintptr, n int) {
	tb.Helper()
	a, _, e := syscall.Syscall6(syscall.SYS_MMAP, addr, uintptr(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_FIXED, ^uintptr(0), 0)
	if e != 0 || a != addr {
		tb.Fatalf("mmap over %#x+%d: %#x %v", addr, n, a, e)
	}
}

func munmap(tb testing.TB, addr uintptr, n int) {
	tb.Helper()
	if _, _, e := syscall.Syscall(syscall.SYS_MUNMAP, addr, uintptr(n), 0); e != 0 {
		tb.Fatalf("munmap %#x+%d: %v", addr, n, e)
	}
}

func madvise(tb testing.TB, addr uintptr, n int, advice int) {
	tb.Helper()
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), uintptr(advice)); e != 0 {
		tb.Fatalf("madvise %#x+%d %d: %v", addr, n, advice, e)
	}
}

func mremap(tb testing.TB, old uintptr, oldn, newn int, flags int, to uintptr) uintptr {
	tb.Helper()
	a, _, e := syscall.Syscall6(syscall.SYS_MREMAP, old, uintptr(oldn), uintptr(newn), uintptr(flags), to, 0)
	if e != 0 {
		tb.Fatalf("mremap %#x: %v", old, e)
	}
	return a
}

func mem(p uintptr, n int) []byte { return unsafe.Slice((*byte)(ptr(p)), n) }

// within runs fn and fails the test if it does not return in d.
func within(tb testing.TB, d time.Duration, what string, fn func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		tb.Fatalf("%s did not finish within %v (hung on a page fault?)", what, d)
	}
}
