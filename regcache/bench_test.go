//go:build cgo

package regcache

import (
	"fmt"
	"testing"
)

// BenchmarkHit measures Acquire+Release of a cached one-page buffer with
// the given number of live entries, visiting them in a scattered order.
func BenchmarkHit(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		for _, fast := range []bool{false, true} {
			name := fmt.Sprintf("entries=%d/sync=%s", n, map[bool]string{false: "strict", true: "fast"}[fast])
			b.Run(name, func(b *testing.B) {
				c, _ := newCache(b, Options{FastSync: fast, MaxEntries: n + 16, MaxBytes: int64(n+16) * int64(pg)}, true)
				base := mmapAnon(b, n*pg)
				defer munmap(b, base, n*pg)
				for i := 0; i < n; i++ {
					acquire(b, c, base+uintptr(i)*upg, pg, rw).Release()
				}
				if st := c.Stats(); st.Entries != n {
					b.Fatalf("setup: %d entries", st.Entries)
				}
				order := make([]uintptr, 4096)
				x := uint32(1)
				for i := range order {
					x = x*1664525 + 1013904223
					order[i] = base + uintptr(int(x>>8)%n)*upg + 64
				}
				h0 := c.Stats().Hits
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					h, err := c.Acquire(ptr(order[i&4095]), 512, rw)
					if err != nil {
						b.Fatal(err)
					}
					h.Release()
					i++
				}
				b.StopTimer()
				if st := c.Stats(); st.Hits-h0 != uint64(i) {
					b.Fatalf("%d of %d were hits", st.Hits-h0, i)
				}
			})
		}
	}
}

// BenchmarkMiss measures Acquire+Release of a buffer not in the cache
// (watch + register, and the eviction's deregistration), beside
// BenchmarkRegister, the raw Register+Close on the same memory.
func BenchmarkMiss(b *testing.B) {
	const pages = 4096
	c, _ := newCache(b, Options{MaxEntries: 64}, true)
	base := mmapAnon(b, pages*pg)
	defer munmap(b, base, pages*pg)
	m0 := c.Stats().Misses
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h, err := c.Acquire(ptr(base+uintptr(i%pages)*upg), pg, rw)
		if err != nil {
			b.Fatal(err)
		}
		h.Release()
		i++
	}
	b.StopTimer()
	if st := c.Stats(); st.Misses-m0 != uint64(i) {
		b.Fatalf("%d of %d were misses", st.Misses-m0, i)
	}
}

func BenchmarkRegister(b *testing.B) {
	const pages = 4096
	ep := endpoint(b)
	base := mmapAnon(b, pages*pg)
	defer munmap(b, base, pages*pg)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		mr, err := ep.Register(ptr(base+uintptr(i%pages)*upg), pg, rw)
		if err != nil {
			b.Fatal(err)
		}
		mr.Close()
		i++
	}
}
