//go:build cgo

package regcache

import "testing"

// BenchmarkMonitor measures the monitor's pieces: taking the queue with and
// without reading the userfaultfd (the strict and fast hit-path costs), and
// UFFDIO_REGISTER of a page (paid on every miss).
func BenchmarkMonitor(b *testing.B) {
	m, err := openMonitor(false)
	if err != nil {
		b.Skip(err)
	}
	defer m.close()
	fn := func(a, e uintptr) {}
	for _, rd := range []bool{false, true} {
		b.Run(map[bool]string{false: "take", true: "take+read"}[rd], func(b *testing.B) {
			for b.Loop() {
				m.take(rd, fn)
			}
		})
	}
	b.Run("watch", func(b *testing.B) {
		const pages = 4096
		base := mmapAnon(b, pages*pg)
		defer munmap(b, base, pages*pg)
		i := 0
		for b.Loop() {
			if err := m.watch(base+uintptr(i%pages)*upg, upg); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
