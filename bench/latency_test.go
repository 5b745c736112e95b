package bench

import (
	"math/rand"
	"testing"
)

// The headline's 4 KiB latency offsets are aligned and inside the file;
// confined ones all fall in one server's strips, spread ones reach every
// server's.
func TestLatencyOffset(t *testing.T) {
	const size, strips = 4096, 64
	rng := rand.New(rand.NewSource(1))
	for _, confined := range []bool{false, true} {
		servers := map[int64]bool{}
		for range 10000 {
			off := latencyOffset(rng.Int63(), strips, size, confined)
			if off < 0 || off+size > strips*headlineStrip || off%size != 0 {
				t.Fatalf("confined=%v: offset %d outside the file or unaligned", confined, off)
			}
			servers[off/headlineStrip%headlineServers] = true
		}
		want := headlineServers
		if confined {
			want = 1
		}
		if len(servers) != want {
			t.Errorf("confined=%v: reads reached %d servers, want %d", confined, len(servers), want)
		}
	}
}
