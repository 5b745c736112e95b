package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// BenchmarkRoundTrip times one client's reads, one at a time, from one
// server of 4 real ferryd servers on this host: inline (the shm default
// below 1 MiB) and by RDMA on shm (eager threshold 1, as on a networked
// provider from 16 KiB). The difference is what a read pays for moving
// its bytes by RMA: the client's registration and the server's post,
// against one copy fewer. Run with
//
//	go test -run '^$' -bench RoundTrip ./bench
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	cl := headlineCluster(b)
	const fileSize = 4 * headlineServers * headlineStrip
	for _, mode := range []struct {
		name  string
		eager int64
	}{{"inline", 0}, {"rdma", 1}} {
		c, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Provider: "shm", EagerThreshold: mode.eager, Timeout: time.Minute, LocalReads: clientlib.LocalReadsOff})
		if err != nil {
			b.Fatal(err)
		}
		if mode.name == "inline" {
			buf := make([]byte, fileSize)
			rand.Read(buf)
			f, err := c.Create(ctx, "/roundtrip", clientlib.CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.WriteAt(buf, 0); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		f, err := c.Open(ctx, "/roundtrip")
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{4 << 10, 16 << 10, 256 << 10} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode.name, size>>10), func(b *testing.B) {
				p := make([]byte, size)
				b.SetBytes(int64(size))
				for i := 0; b.Loop(); i++ {
					// strip 0 only: every read goes to one server
					off := int64(i*size) % headlineStrip
					if _, err := f.ReadAt(p, off); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		f.Close()
		c.Close()
	}
}

// headlineCluster starts the headline's 4 real ferryd servers (strip
// 1 MiB) on this host for a benchmark, stopped when it ends; it skips the
// benchmark where shm cannot be opened.
func headlineCluster(b *testing.B) *cluster {
	b.Helper()
	if err := openProvider(b, "shm"); err != nil {
		b.Skipf("shm: %v", err)
	}
	cl, err := startCluster(context.Background(), testcluster.Binary(b, "ferryd"), headlineServers, headlineStrip, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.stop)
	return cl
}
