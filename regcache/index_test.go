package regcache

import (
	"math/rand"
	"testing"
)

// TestIndexAgainstBruteForce drives the treap with random disjoint
// intervals and compares every query with a linear scan.
func TestIndexAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var x index
	live := map[uintptr]*entry{} // by start
	const space = 4096
	overlapsAny := func(a, b uintptr) bool {
		for _, e := range live {
			if e.start < b && a < e.end {
				return true
			}
		}
		return false
	}
	for step := 0; step < 20000; step++ {
		a := uintptr(rng.Intn(space))
		b := a + 1 + uintptr(rng.Intn(16))
		switch rng.Intn(3) {
		case 0: // insert if disjoint
			if !overlapsAny(a, b) {
				e := &entry{start: a, end: b}
				x.insert(e)
				live[a] = e
			}
		case 1: // remove something overlapping
			got := x.overlapping(a, b, nil)
			for _, e := range got {
				x.remove(e)
				delete(live, e.start)
			}
		}
		// floor
		var want *entry
		for _, e := range live {
			if e.start <= a && (want == nil || e.start > want.start) {
				want = e
			}
		}
		if got := x.floor(a); got != want {
			t.Fatalf("step %d: floor(%d) = %v, want %v", step, a, got, want)
		}
		// overlapping, in order
		got := x.overlapping(a, b, nil)
		n := 0
		for _, e := range live {
			if e.start < b && a < e.end {
				n++
			}
		}
		if len(got) != n {
			t.Fatalf("step %d: overlapping(%d,%d) gave %d, want %d", step, a, b, len(got), n)
		}
		for i := range got {
			if !(got[i].start < b && a < got[i].end) || (i > 0 && got[i-1].start >= got[i].start) {
				t.Fatalf("step %d: bad overlap result", step)
			}
		}
		if x.len() != len(live) {
			t.Fatalf("step %d: len %d, want %d", step, x.len(), len(live))
		}
	}
	cnt := 0
	var prev *entry
	x.each(func(e *entry) {
		if prev != nil && prev.end > e.start {
			t.Fatal("each: out of order or overlapping")
		}
		prev = e
		cnt++
	})
	if cnt != len(live) {
		t.Fatalf("each visited %d of %d", cnt, len(live))
	}
}
