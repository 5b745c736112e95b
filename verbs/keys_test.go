//go:build cgo

package verbs

import "testing"

// Where we choose keys, each region's key is drawn at random: a peer that
// has seen one key learns nothing about the next.
func TestChosenKeysAreRandom(t *testing.T) {
	e := openOrSkip(t, "tcp")
	if e.provKey {
		t.Skip("provider chooses its keys")
	}
	if e.keyMask < 1<<48 {
		t.Skipf("keys of %#x bits are too short to test for randomness", e.keyMask)
	}
	const n = 8
	b := mmapBuf(t, n*4096)
	keys := map[uint64]bool{}
	var lo, hi uint64 = ^uint64(0), 0
	for i := range n {
		m := reg(t, e, b[i*4096:(i+1)*4096], AccessRemoteRead)
		k := m.Key()
		if keys[k] {
			t.Fatalf("key %#x twice", k)
		}
		keys[k] = true
		lo, hi = min(lo, k), max(hi, k)
	}
	// Eight random 64-bit keys all within 2^32 of each other: about 2^-220.
	if hi-lo < 1<<32 {
		t.Fatalf("keys %v lie within %#x of each other: a sequence, not random", keys, hi-lo)
	}
}
