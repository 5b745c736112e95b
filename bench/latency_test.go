package bench

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/testcluster"
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

// The TCP baselines' answering sides (goroutines, or the C program's
// processes where the build made it) each answer a request with the
// whole reply, and stop ends them: a round trip afterwards fails.
func TestPongs(t *testing.T) {
	sides := []string{""}
	if p := filepath.Join(testcluster.RepoRoot(), "build", "bin", "ferry-fi-bw"); fileExists(p) {
		sides = append(sides, p)
	}
	for _, fibw := range sides {
		conns, stop, err := pongs(context.Background(), fibw, 4096, 3)
		if err != nil {
			t.Fatalf("pongs(%q): %v", fibw, err)
		}
		if len(conns) != 3 {
			stop()
			t.Fatalf("pongs(%q): %d connections, want 3", fibw, len(conns))
		}
		req, resp := make([]byte, 64), make([]byte, 4096)
		for i, c := range conns {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			for range 10 {
				if err := pingOnce(c, req, resp); err != nil {
					t.Errorf("pongs(%q): round trip on connection %d: %v", fibw, i, err)
				}
			}
		}
		stop()
		if err := pingOnce(conns[0], req, resp); err == nil {
			t.Errorf("pongs(%q): a round trip after stop succeeded", fibw)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
