//go:build cgo

package regcache

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ferry-hpc/ferry/regcache/internal/ctest"
	"github.com/ferry-hpc/ferry/verbs"
)

const (
	madvDontneed  = 4
	mremapMaymove = 1
	mremapFixed   = 2
)

func want(t *testing.T, what string, got, exp uint64) {
	t.Helper()
	if got != exp {
		t.Fatalf("%s = %d, want %d", what, got, exp)
	}
}

func TestHitsSubrangesSharedPages(t *testing.T) {
	c, r := newCache(t, Options{}, true)
	base := mmapAnon(t, 64*pg)
	defer munmap(t, base, 64*pg)

	h1 := acquire(t, c, base+100, 4*pg, rw) // pages 0..4
	want(t, "misses", c.Stats().Misses, 1)
	h2 := acquire(t, c, base+100, 4*pg, rw)
	h3 := acquire(t, c, base+upg+5, 10, rw)                 // sub-range
	h4 := acquire(t, c, base+4*upg+7, 8, verbs.AccessLocal) // less access, last page
	st := c.Stats()
	want(t, "hits", st.Hits, 3)
	want(t, "misses", st.Misses, 1)
	if h2.MR() != h1.MR() || h3.MR() != h1.MR() || h4.MR() != h1.MR() {
		t.Fatal("hits returned different registrations")
	}
	for _, h := range []*Handle{h1, h2, h3, h4} {
		h.Release()
	}

	// Two buffers sharing a page share one entry.
	a := acquire(t, c, base+20*upg+8, 64, rw)
	b := acquire(t, c, base+20*upg+1000, 64, rw)
	if a.MR() != b.MR() {
		t.Fatal("buffers on one page got different registrations")
	}
	want(t, "misses", c.Stats().Misses, 2)
	a.Release()
	b.Release()

	// A larger range misses and replaces the entry it overlaps.
	l := acquire(t, c, base, 8*pg, rw)
	st = c.Stats()
	want(t, "misses", st.Misses, 3)
	want(t, "replaced", st.Replaced, 1)
	again := acquire(t, c, base+100, 4*pg, rw)
	if again.MR() != l.MR() {
		t.Fatal("sub-range of the merged entry missed")
	}
	// More access misses; the new entry has the union of both.
	rd := acquire(t, c, base+upg, pg, verbs.AccessRemoteRead)
	want(t, "misses", c.Stats().Misses, 4)
	if acc := rd.MR().Access(); acc != rw|verbs.AccessRemoteRead {
		t.Fatalf("merged access %v", acc)
	}
	for _, h := range []*Handle{l, again, rd} {
		h.Release()
	}
	h := acquire(t, c, base+2*upg, 2*pg, rw|verbs.AccessRemoteRead)
	h.Release()
	st = c.Stats()
	want(t, "misses", st.Misses, 4)
	if int(st.Registrations) != r.count() {
		t.Fatalf("Registrations %d, registrar saw %d", st.Registrations, r.count())
	}
	// Everything is unreferenced now: what is live is exactly the LRU.
	if st.LiveEntries != st.LRUEntries || st.LiveEntries != st.Entries {
		t.Fatalf("live %d, lru %d, index %d", st.LiveEntries, st.LRUEntries, st.Entries)
	}
	t.Logf("%+v", st)
}

// staleModes runs fn with strict and fast synchronisation.
func staleModes(t *testing.T, fn func(t *testing.T, c *Cache, r *countingReg)) {
	for _, fast := range []bool{false, true} {
		name := "strict"
		if fast {
			name = "fast"
		}
		t.Run(name, func(t *testing.T) {
			c, r := newCache(t, Options{FastSync: fast}, true)
			fn(t, c, r)
		})
	}
}

func TestStaleMunmapMapFixed(t *testing.T) {
	staleModes(t, func(t *testing.T, c *Cache, r *countingReg) {
		base := mmapAnon(t, 16*pg)
		h := acquire(t, c, base, 4*pg, rw)
		old := h.MR()
		h.Release()
		munmap(t, base, 16*pg)
		mmapFixed(t, base, 16*pg)
		defer munmap(t, base, 16*pg)
		h = acquire(t, c, base, 4*pg, rw)
		st := c.Stats()
		if h.MR() == old || st.Misses != 2 {
			t.Fatalf("stale hit after munmap + MAP_FIXED: %+v", st)
		}
		if st.Invalidations < 1 || st.Unmaps < 1 {
			t.Fatalf("no invalidation recorded: %+v", st)
		}
		// mmap(MAP_FIXED) straight over registered memory.
		old = h.MR()
		h.Release()
		mmapOver(t, base, 16*pg)
		h = acquire(t, c, base+upg, pg, rw)
		defer h.Release()
		if h.MR() == old {
			t.Fatalf("stale hit after MAP_FIXED over the range: %+v", c.Stats())
		}
	})
}

func TestStaleMadviseDontneed(t *testing.T) {
	staleModes(t, func(t *testing.T, c *Cache, r *countingReg) {
		base := mmapAnon(t, 16*pg)
		defer munmap(t, base, 16*pg)
		copy(mem(base, 16*pg), "hello")
		h := acquire(t, c, base, 4*pg, rw)
		old := h.MR()
		h.Release()
		madvise(t, base+2*upg, pg, madvDontneed)
		h = acquire(t, c, base, 4*pg, rw)
		defer h.Release()
		st := c.Stats()
		if h.MR() == old || st.Removes < 1 || st.Invalidations < 1 {
			t.Fatalf("stale hit after DONTNEED: %+v", st)
		}
	})
}

func TestStaleMremap(t *testing.T) {
	staleModes(t, func(t *testing.T, c *Cache, r *countingReg) {
		n := 16 * pg
		a := mmapAnon(t, n)
		b := mmapAnon(t, n)
		ha := acquire(t, c, a, n, rw)
		hb := acquire(t, c, b, n, rw)
		oldA, oldB := ha.MR(), hb.MR()
		ha.Release()
		hb.Release()
		// Move a's memory over b: a is gone, b is a's old memory.
		if got := mremap(t, a, n, n, mremapMaymove|mremapFixed, b); got != b {
			t.Fatalf("mremap moved to %#x, want %#x", got, b)
		}
		mmapFixed(t, a, n)
		defer munmap(t, a, n)
		defer munmap(t, b, n)
		ha = acquire(t, c, a, n, rw)
		hb = acquire(t, c, b, n, rw)
		if ha.MR() == oldA || hb.MR() == oldB {
			t.Fatalf("stale hit after mremap: %+v", c.Stats())
		}
		ha.Release()
		hb.Release()

		// Shrinking in place unmaps the tail.
		h := acquire(t, c, a+8*upg, 4*pg, rw)
		old := h.MR()
		h.Release()
		if got := mremap(t, a, n, 4*pg, 0, 0); got != a {
			t.Fatalf("mremap shrink moved the mapping")
		}
		mmapFixed(t, a+4*upg, n-4*pg)
		h = acquire(t, c, a+8*upg, 4*pg, rw)
		if h.MR() == old {
			t.Fatalf("stale hit after mremap shrink: %+v", c.Stats())
		}
		h.Release()
		st := c.Stats()
		if st.Remaps < 1 {
			t.Fatalf("no remap event: %+v", st)
		}
	})
}

func TestStaleCMallocFreeMalloc(t *testing.T) {
	ctest.SetMmapThreshold(128 << 10)
	staleModes(t, func(t *testing.T, c *Cache, r *countingReg) {
		const n = 1 << 20
		reused := 0
		for i := 0; i < 8; i++ {
			p := ctest.Malloc(n)
			h := acquire(t, c, uintptr(p), n, rw)
			old := h.MR()
			h.Release()
			ctest.Free(p)
			q := ctest.Malloc(n)
			h = acquire(t, c, uintptr(q), n, rw)
			if uintptr(q) == uintptr(p) {
				reused++
				if h.MR() == old {
					t.Fatalf("stale hit after free/malloc at %p: %+v", q, c.Stats())
				}
			}
			h.Release()
			ctest.Free(q)
		}
		st := c.Stats()
		t.Logf("address reused %d/8; %+v", reused, st)
		if st.Invalidations < 8 {
			t.Fatalf("free of an mmap'ed malloc chunk did not invalidate: %+v", st)
		}
	})
}

// TestMissingFaultResolved: a watched range whose pages were dropped
// reports missing faults; they must be answered at once, whoever touches
// the memory (Go, a C thread, the kernel inside read(2)), even while the
// garbage collector stops the world.
func TestMissingFaultResolved(t *testing.T) {
	c, _ := newCache(t, Options{}, true)
	n := 64 * pg
	base := mmapAnon(t, n)
	defer munmap(t, base, n)
	b := mem(base, n)
	for i := range b {
		b[i] = 7
	}
	h := acquire(t, c, base, n, rw)
	h.Release() // stays watched

	madvise(t, base, n, madvDontneed)
	within(t, 10*time.Second, "Go touch after DONTNEED", func() {
		for i := 0; i < n; i += pg {
			if b[i] != 0 {
				t.Errorf("byte %d = %d after DONTNEED, want 0", i, b[i])
				return
			}
			b[i] = 1
		}
	})
	madvise(t, base, n, madvDontneed)
	if _, ok := ctest.Touch(base, n, true, 10*time.Second); !ok {
		t.Fatal("C thread touching a dropped watched page hung")
	}
	madvise(t, base, n, madvDontneed)
	if c.Stats().Monitor == "userfaultfd" {
		// Kernel-mode access: read(2) into a dropped watched page.
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		defer pw.Close()
		pw.Write([]byte("kernel"))
		within(t, 10*time.Second, "read(2) into a dropped page", func() {
			k, err := syscall.Read(int(pr.Fd()), b[5*pg:5*pg+6])
			if err != nil || string(b[5*pg:5*pg+k]) != "kernel" {
				t.Errorf("read into dropped page: %d %v", k, err)
			}
		})
	}

	// Go heap: a watched Go buffer whose pages are dropped, touched while
	// the GC runs.
	gb := make([]byte, 256<<10)
	gh, err := c.AcquireBytes(gb, rw)
	if err != nil {
		t.Fatal(err)
	}
	p0 := (uintptr(unsafe.Pointer(&gb[0])) + uintptr(pg) - 1) &^ uintptr(pg-1)
	madvise(t, p0, 32*pg, madvDontneed)
	stop := make(chan struct{})
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	within(t, 10*time.Second, "Go heap touch during GC", func() {
		for k := 0; k < 20; k++ {
			for i := 0; i < len(gb); i += pg {
				gb[i]++
			}
			madvise(t, p0, 32*pg, madvDontneed)
		}
	})
	if _, ok := ctest.Touch(p0, 32*pg, false, 10*time.Second); !ok {
		t.Fatal("C thread touching dropped Go heap pages hung")
	}
	close(stop)
	<-gcDone
	gh.Release()
	runtime.KeepAlive(gb)
	st := c.Stats()
	if st.FaultsResolved == 0 {
		t.Fatalf("no fault was resolved by the monitor: %+v", st)
	}
	t.Logf("faults resolved %d, wakes %d, errors %d", st.FaultsResolved, st.FaultWakes, st.FaultErrors)
}

// TestUserModeOnlyKernelFault documents why a full userfaultfd is preferred:
// in user-mode-only mode the kernel's own accesses to a dropped watched page
// fail with EFAULT.
func TestUserModeOnlyKernelFault(t *testing.T) {
	m, err := openMonitor(true)
	if err != nil {
		t.Skipf("userfaultfd(UFFD_USER_MODE_ONLY): %v", err)
	}
	defer m.close()
	n := 4 * pg
	base := mmapAnon(t, n)
	defer munmap(t, base, n)
	if err := m.watch(base, uintptr(n)); err != nil {
		t.Fatal(err)
	}
	madvise(t, base, n, madvDontneed)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	pw.Write([]byte("x"))
	_, err = syscall.Read(int(pr.Fd()), mem(base, 1))
	t.Logf("read(2) into a dropped page watched in user-mode-only mode: %v", err)
	if err != syscall.EFAULT {
		t.Errorf("read(2) into a dropped page watched in user-mode-only mode: %v, want EFAULT (regcache/doc.go states this hazard; if the kernel changed, update the doc)", err)
	}
	// A user-mode touch is answered.
	within(t, 10*time.Second, "user touch", func() { mem(base, n)[pg] = 1 })
}

func TestBounds(t *testing.T) {
	const maxE = 4
	maxB := int64(6 * pg)
	c, _ := newCache(t, Options{MaxEntries: maxE, MaxBytes: maxB}, true)
	base := mmapAnon(t, 256*pg)
	defer munmap(t, base, 256*pg)
	check := func() {
		t.Helper()
		st := c.Stats()
		if st.LRUEntries > maxE || st.LRUBytes > maxB {
			t.Fatalf("LRU over bounds: %d entries, %d bytes", st.LRUEntries, st.LRUBytes)
		}
	}
	for i := 0; i < 40; i++ { // one page each
		acquire(t, c, base+uintptr(2*i*pg), pg, rw).Release()
		check()
	}
	for i := 0; i < 40; i++ { // three pages each: the byte bound bites
		acquire(t, c, base+uintptr((100+4*i)*pg), 3*pg, rw).Release()
		check()
	}
	// Entries in use are never evicted; released, they fall under the bounds.
	var hs []*Handle
	for i := 0; i < 20; i++ {
		hs = append(hs, acquire(t, c, base+uintptr(2*i*pg), pg, rw))
	}
	st := c.Stats()
	if st.LiveEntries < 20 {
		t.Fatalf("in-use entries evicted: %+v", st)
	}
	for _, h := range hs {
		h.Release()
		check()
	}
	st = c.Stats()
	if st.LiveEntries != st.LRUEntries || st.Evictions == 0 {
		t.Fatalf("after release: %+v", st)
	}
	c.Flush()
	if st = c.Stats(); st.LiveEntries != 0 || st.LiveBytes != 0 || st.Entries != 0 {
		t.Fatalf("after Flush: %+v", st)
	}
}

func TestInvalidatedWhileInUse(t *testing.T) {
	c, _ := newCache(t, Options{}, true)
	base := mmapAnon(t, 8*pg)
	h := acquire(t, c, base, 8*pg, rw)
	munmap(t, base, 8*pg)
	mmapFixed(t, base, 8*pg)
	defer munmap(t, base, 8*pg)
	h2 := acquire(t, c, base, 8*pg, rw) // syncs, misses
	st := c.Stats()
	if h2.MR() == h.MR() || st.Invalidations != 1 || st.LiveEntries != 2 {
		t.Fatalf("after invalidation in use: %+v", st)
	}
	h.Release() // last reference of the invalidated entry: deregistered
	if st = c.Stats(); st.LiveEntries != 1 || st.Entries != 1 {
		t.Fatalf("after last release: %+v", st)
	}
	h2.Release()
}

func TestUnwatchableMemoryNotCached(t *testing.T) {
	c, _ := newCache(t, Options{}, true)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 4 * pg
	if err := f.Truncate(int64(n)); err != nil {
		t.Fatal(err)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	p := uintptr(unsafe.Pointer(&b[0]))
	for i := 0; i < 2; i++ {
		h := acquire(t, c, p, n, rw)
		h.Release()
	}
	st := c.Stats()
	if st.Uncached != 2 || st.Hits != 0 || st.LiveEntries != 0 || st.Entries != 0 {
		t.Fatalf("file mapping: %+v", st)
	}
}

func TestDisabledAndModes(t *testing.T) {
	c, r := newCache(t, Options{Disabled: true}, false)
	base := mmapAnon(t, 4*pg)
	defer munmap(t, base, 4*pg)
	for i := 0; i < 3; i++ {
		acquire(t, c, base, pg, rw).Release()
	}
	st := c.Stats()
	if st.Enabled || st.Monitor != "disabled" || r.count() != 3 || st.Hits != 0 || st.LiveEntries != 0 {
		t.Fatalf("disabled: %+v (registrations %d)", st, r.count())
	}

	for in, want := range map[string]Mode{"": ModeOn, "on": ModeOn, "strict": ModeOn, "OFF": ModeOff, "fast": ModeFast} {
		m, err := ParseMode(in)
		if err != nil || m != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, m, err, want)
		}
	}
	if _, err := ParseMode("quick"); err == nil {
		t.Error("ParseMode accepted an unknown mode")
	}
	if o := ModeFast.Apply(Options{Disabled: true, MaxEntries: 17}); o.Disabled || !o.FastSync || o.MaxEntries != 17 {
		t.Fatalf("fast: %+v", o)
	}
	if o := ModeOff.Apply(Options{FastSync: true}); !o.Disabled || o.FastSync {
		t.Fatalf("off: %+v", o)
	}
	c.Close()
	if _, err := c.Acquire(ptr(base), 1, rw); err != ErrClosed {
		t.Fatalf("Acquire after Close: %v", err)
	}
}

// countMaps counts the mappings in /proc/self/maps that overlap
// [lo, hi). Only the test's own region is counted: the Go runtime (and the
// race detector's shadow memory) map and split memory of their own at any
// time, which made a whole-process count flaky.
func countMaps(t *testing.T, lo, hi uintptr) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		rng, _, _ := strings.Cut(line, " ")
		start, end, ok := strings.Cut(rng, "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("parse /proc/self/maps line %q", line)
		}
		if uintptr(s) < hi && uintptr(e) > lo {
			n++
		}
	}
	return n
}

// TestWatchesDoNotAccumulate: every watched range splits a mapping; ranges
// no cached entry needs are handed back, so acquiring many scattered
// buffers through a small cache does not pile up mappings.
func TestWatchesDoNotAccumulate(t *testing.T) {
	c, _ := newCache(t, Options{MaxEntries: 8}, true)
	const pages = 4096
	base := mmapAnon(t, pages*pg)
	defer munmap(t, base, pages*pg)
	end := base + pages*upg
	before := countMaps(t, base, end)
	for i := 0; i < pages; i += 2 { // every other page: worst case for splits
		acquire(t, c, base+uintptr(i)*upg, 1, rw).Release()
	}
	after := countMaps(t, base, end)
	st := c.Stats()
	t.Logf("mappings before %d, after %d; %+v", before, after, st)
	// Each cached page is its own mapping plus the remainder after it:
	// at most two more per entry.
	if after-before > 2*8 {
		t.Fatalf("%d mappings added by %d cached entries", after-before, st.Entries)
	}
	// The cached entries are still watched: a DONTNEED invalidates them.
	madvise(t, base+uintptr(pages-2)*upg, pg, madvDontneed)
	h := acquire(t, c, base+uintptr(pages-2)*upg, 1, rw)
	h.Release()
	if st2 := c.Stats(); st2.Misses != st.Misses+1 || st2.Invalidations == 0 {
		t.Fatalf("entry lost its watch: %+v", st2)
	}
}

// TestQueueOverflowDropsEverything: more unconsumed events than the
// monitor's queue holds must make the cache drop every entry.
func TestQueueOverflowDropsEverything(t *testing.T) {
	c, _ := newCache(t, Options{FastSync: true}, true)
	base := mmapAnon(t, 64*pg)
	defer munmap(t, base, 64*pg)
	far := acquire(t, c, base+40*upg, pg, rw) // not touched by the madvise storm
	old := far.MR()
	far.Release()
	acquire(t, c, base, pg, rw).Release()
	for i := 0; i < 4200; i++ {
		madvise(t, base, pg, madvDontneed) // a REMOVE event each
	}
	h := acquire(t, c, base+40*upg, pg, rw)
	defer h.Release()
	st := c.Stats()
	if st.Overflows == 0 || h.MR() == old {
		t.Fatalf("overflow not handled: %+v", st)
	}
}
