//go:build cgo

package regcache

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestConcurrentAcquireWhileRemapping: goroutines acquire and release
// overlapping ranges of a few mappings while another OS thread unmaps and
// maps them again. A hit must never return a registration made before an
// unmap of its range that completed before the Acquire began.
func TestConcurrentAcquireWhileRemapping(t *testing.T) {
	for _, fast := range []bool{false, true} {
		name := map[bool]string{false: "strict", true: "fast"}[fast]
		t.Run(name, func(t *testing.T) {
			testConcurrent(t, fast)
		})
	}
}

func testConcurrent(t *testing.T, fast bool) {
	const slots = 4
	slotPages := 16
	slotLen := slotPages * pg
	// One reservation, slots separated by a guard page each (PROT_NONE, so
	// no other mapping can land there).
	stride := slotLen + pg
	region := mmapAnon(t, slots*stride)
	defer munmap(t, region, slots*stride)
	slotAddr := func(i int) uintptr { return region + uintptr(i*stride) }
	for i := 0; i < slots; i++ {
		if err := syscall.Mprotect(mem(slotAddr(i)+uintptr(slotLen), pg), syscall.PROT_NONE); err != nil {
			t.Fatal(err)
		}
	}
	// begun[i] counts replacements of slot i that have started, done[i]
	// those that have returned. A registration tagged with begun = k was
	// watched before replacement k+1 started; an Acquire that starts after
	// done reached k+1 must not hit it.
	var begun, done [slots]atomic.Uint64

	c, r := newCache(t, Options{FastSync: fast, MaxEntries: 16}, true)
	r.tag = func(p uintptr, n int) any {
		var snap [slots]uint64
		for i := range snap {
			snap[i] = begun[i].Load()
		}
		return snap
	}

	dur := 1500 * time.Millisecond
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	deadline := time.Now().Add(dur)
	var stopMapper atomic.Bool
	mapperDone := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		n := 0
		for !stopMapper.Load() {
			i := n % slots
			// Replace the slot's memory in one step: a munmap'ed hole
			// could be taken by the runtime's own mmap meanwhile.
			begun[i].Add(1)
			mmapOver(t, slotAddr(i), slotLen)
			done[i].Add(1)
			n++
			time.Sleep(200 * time.Microsecond)
		}
		mapperDone <- n
	}()

	var wg sync.WaitGroup
	var stale, errs, ops atomic.Uint64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(seed int) {
			defer wg.Done()
			x := uint32(seed*7919 + 1)
			for time.Now().Before(deadline) {
				x = x*1664525 + 1013904223
				i := int(x>>8) % slots
				off := int(x>>12) % (slotLen - 1)
				n := 1 + int(x>>4)%(slotLen-off)
				if n > 5*pg {
					n = 5 * pg
				}
				u1 := done[i].Load()
				h, err := c.Acquire(ptr(slotAddr(i)+uintptr(off)), n, rw)
				if err != nil {
					errs.Add(1)
					continue
				}
				ops.Add(1)
				if tg, ok := r.tagOf(h.MR()).([slots]uint64); ok && tg[i] < u1 {
					if stale.Add(1) <= 5 {
						t.Errorf("stale hit: slot %d registered before replacement %d, acquired after it", i, u1)
					}
				}
				if uintptr(h.MR().Base())+uintptr(h.Offset()) != slotAddr(i)+uintptr(off) {
					t.Errorf("handle does not address the request")
				}
				h.Release()
			}
		}(w)
	}
	wg.Wait()
	stopMapper.Store(true)
	remaps := <-mapperDone
	st := c.Stats()
	t.Logf("ops %d, acquire errors %d, remaps %d, stale %d; %+v", ops.Load(), errs.Load(), remaps, stale.Load(), st)
	if st.LRUEntries > 16 {
		t.Fatalf("LRU bound broken: %d", st.LRUEntries)
	}
	if st.Invalidations == 0 {
		t.Fatal("no invalidations seen")
	}
}
