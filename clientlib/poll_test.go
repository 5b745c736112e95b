package clientlib_test

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// Small reads and writes one after another, with the servers polling for
// each connection's next request (spin_wait, the default) and without
// (negative): the bytes are right either way; the servers count polls
// only where they may poll.
func TestServerPollsForNextRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		spin time.Duration
	}{{"default", 0}, {"off", -time.Nanosecond}} {
		t.Run(tc.name, func(t *testing.T) {
			cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 64 << 10, Edit: func(c *config.Config) {
				for i := range c.Servers {
					c.Servers[i].SpinWait = config.Duration{Duration: tc.spin}
				}
			}})
			c := cl.Mount(t, clientlib.Options{})
			f, err := c.Create(ctx, "/poll", clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			const size, piece = 256 << 10, 4096
			rng := rand.New(rand.NewPCG(3, 4))
			want := make([]byte, size)
			for off := 0; off < size; off += piece {
				for j := range piece {
					want[off+j] = byte(rng.Uint32())
				}
				if _, err := f.WriteAt(want[off:off+piece], int64(off)); err != nil {
					t.Fatalf("write at %d: %v", off, err)
				}
			}
			got := make([]byte, size)
			for off := 0; off < size; off += piece {
				if _, err := f.ReadAt(got[off:off+piece], int64(off)); err != nil {
					t.Fatalf("read at %d: %v", off, err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatal("bytes read back differ from those written")
			}
			var polls int64
			for id := range 2 {
				st, err := c.ServerStats(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				polls += st["conn.poll.hit"] + st["conn.poll.miss"]
			}
			switch {
			case tc.spin < 0 && polls != 0:
				t.Errorf("spin_wait %v: the servers polled %d times", tc.spin, polls)
			case tc.spin == 0 && polls == 0 && runtime.NumCPU() > 1: // one CPU: the servers never poll
				t.Error("default spin_wait: the servers never polled for a next request")
			}
		})
	}
}
