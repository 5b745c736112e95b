package bench

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
)

// BenchmarkStriped times one client moving a 256 MiB file striped over 4
// real ferryd servers on this host (strip 1 MiB) in one call, with the
// default settings (shm, auto; reads by request, local reads off), with the sendfile and pipeline strategies
// (shm) and with the sockets strategy: reads and writes back to back, and
// writes over pages the servers have written back since (the file synced
// before each one, untimed, as IOR's -e does between its iterations), and
// the second write after a sync (the first one untimed).
// Beside the rate it reports the client's CPU per GiB. Run with
//
//	go test -run '^$' -bench Striped -benchtime 10x -count 3 ./bench
func BenchmarkStriped(b *testing.B) {
	ctx := context.Background()
	cl := headlineCluster(b)
	const fileSize = 256 << 20
	buf := make([]byte, fileSize)
	rand.Read(buf)
	for _, strategy := range []string{"auto", "sendfile", "pipeline", "sockets"} {
		c, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Strategy: strategy, Timeout: time.Minute, LocalReads: clientlib.LocalReadsOff})
		if err != nil {
			b.Fatal(err)
		}
		var f *clientlib.File
		if strategy == "auto" {
			f, err = c.Create(ctx, "/striped", clientlib.CreateOptions{})
			if err == nil {
				_, err = f.WriteAt(buf, 0)
			}
		} else {
			f, err = c.Open(ctx, "/striped")
		}
		if err != nil {
			b.Fatal(err)
		}
		// run times op; prep, when set, runs untimed before each.
		run := func(name string, prep func(), op func([]byte, int64) (int, error)) {
			b.Run(strategy+"/"+name, func(b *testing.B) {
				b.SetBytes(fileSize)
				cpu := 0.0
				for i := 0; i < b.N; i++ {
					if prep != nil {
						b.StopTimer()
						prep()
						b.StartTimer()
					}
					c0 := selfCPU()
					if n, err := op(buf, 0); n != fileSize || err != nil {
						b.Fatalf("%s: %d bytes, %v", name, n, err)
					}
					cpu += selfCPU() - c0
				}
				b.ReportMetric(cpu/float64(b.N)*float64(1<<30)/fileSize, "client-s/GiB")
			})
		}
		sync := func() {
			if err := f.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
		run("read", nil, f.ReadAt)
		run("write", nil, f.WriteAt)
		run("write-after-sync", sync, f.WriteAt)
		run("second-write-after-sync", func() {
			sync()
			if _, err := f.WriteAt(buf, 0); err != nil {
				b.Fatal(err)
			}
		}, f.WriteAt)
		f.Close()
		c.Close()
	}
}
