//go:build cgo

package regcache

import (
	"bytes"
	"context"
	"github.com/ferry-hpc/ferry/internal/testenv"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
	"unsafe"

	"github.com/ferry-hpc/ferry/verbs"
)

// pair returns a cache over a fresh shm endpoint (the target) and a second
// endpoint connected to it (the initiator).
func pair(t *testing.T) (*Cache, *verbs.Endpoint, verbs.Peer) {
	target := openShm(t)
	init := openShm(t)
	c, err := New(target, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !c.Stats().Enabled {
		testenv.SkipOrFail(t, "no memory monitor: %s", c.Stats().Monitor)
	}
	peer, err := init.Connect(target.Address())
	if err != nil {
		t.Fatal(err)
	}
	return c, init, peer
}

// TestRMAAfterRemap writes into a cached registration, remaps the buffer,
// and checks the next write through the cache lands in the new memory.
func TestRMAAfterRemap(t *testing.T) {
	c, init, peer := pair(t)
	n := 8 * pg
	src := mmapAnon(t, n)
	defer munmap(t, src, n)
	smr, err := init.Register(ptr(src), n, verbs.AccessLocal)
	if err != nil {
		t.Fatal(err)
	}
	defer smr.Close()
	dst := mmapAnon(t, n)
	defer munmap(t, dst, n)

	write := func(fill byte, off int, cnt int) *verbs.MemoryRegion {
		t.Helper()
		s := mem(src, n)
		for i := range s {
			s[i] = fill
		}
		h := acquire(t, c, dst+uintptr(off), cnt, rw)
		defer h.Release()
		rb, err := h.Remote(uint64(cnt))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := init.Do(ctx, verbs.RMA{Kind: verbs.Write, Peer: peer, Local: verbs.One(smr, 0, uint64(cnt)), Remote: rb, Off: 0}); err != nil {
			t.Fatalf("fi_write: %v", err)
		}
		got := mem(dst+uintptr(off), cnt)
		if !bytes.Equal(got, bytes.Repeat([]byte{fill}, cnt)) {
			t.Fatalf("bytes did not land: first %d, want %d", got[0], fill)
		}
		return h.MR()
	}
	mr1 := write(1, 100, 3*pg)
	if write(2, 200, 2*pg) != mr1 {
		t.Fatal("expected a hit")
	}
	munmap(t, dst, n)
	mmapFixed(t, dst, n)
	if write(3, 100, 3*pg) == mr1 {
		t.Fatal("hit on a registration of unmapped memory")
	}
	madvise(t, dst, n, madvDontneed)
	write(4, 0, n)
	st := c.Stats()
	if st.Misses < 3 || st.Invalidations < 2 {
		t.Fatalf("%+v", st)
	}
}

// TestGoMemoryReuse acquires Go buffers, lets the GC free them and the
// runtime return memory to the OS, allocates again, and checks that every
// handle describes the current buffer by reading it with RMA.
func TestGoMemoryReuse(t *testing.T) {
	c, init, peer := pair(t)
	dst := mmapAnon(t, 1<<20)
	defer munmap(t, dst, 1<<20)
	dmr, err := init.Register(ptr(dst), 1<<20, verbs.AccessLocal)
	if err != nil {
		t.Fatal(err)
	}
	defer dmr.Close()
	sizes := []int{3000, 20 << 10, 300 << 10, 1 << 20}
	for round := 0; round < 12; round++ {
		for _, size := range sizes {
			b := make([]byte, size)
			for i := range b {
				b[i] = byte(round*31 + i)
			}
			h, err := c.AcquireBytes(b, verbs.AccessRemoteRead|verbs.AccessLocal)
			if err != nil {
				t.Fatal(err)
			}
			checkHandle(t, h, uintptr(unsafe.Pointer(&b[0])), size)
			rb, err := h.Remote(uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = init.Do(ctx, verbs.RMA{Kind: verbs.Read, Peer: peer, Local: verbs.One(dmr, 0, uint64(size)), Remote: rb, Off: 0})
			cancel()
			if err != nil {
				t.Fatalf("fi_read: %v", err)
			}
			if !bytes.Equal(mem(dst, size), b) {
				t.Fatalf("round %d size %d: RMA read other bytes than the buffer holds", round, size)
			}
			h.Release()
			runtime.KeepAlive(b)
		}
		if round%3 == 2 {
			c.Flush() // let the GC free what the cache kept reachable
		}
		runtime.GC()
		debug.FreeOSMemory()
	}
	st := c.Stats()
	t.Logf("%+v", st)
}
