package bench

import (
	"bytes"
	"math/rand"
	"testing"
)

// kernelCopy, the headline's CMA ceiling, copies every byte, in pieces
// split unevenly over threads (also for 0 threads asked and for more
// threads than pieces), and refuses a buffer too small.
func TestKernelCopy(t *testing.T) {
	src := make([]byte, 5<<20+123)
	rand.New(rand.NewSource(1)).Read(src)
	for _, threads := range []int{0, 1, 2, 3, 64} {
		dst := make([]byte, len(src)+7)
		if _, err := kernelCopy(src, dst, threads); err != nil {
			t.Fatalf("%d threads: %v", threads, err)
		}
		if !bytes.Equal(dst[:len(src)], src) || !bytes.Equal(dst[len(src):], make([]byte, 7)) {
			t.Fatalf("%d threads: the copy differs from the source", threads)
		}
	}
	if _, err := kernelCopy(src, make([]byte, len(src)-1), 2); err == nil {
		t.Fatal("a buffer one byte short was accepted")
	}
}
