package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
)

// BenchmarkHugePages times one client reading a 256 MiB file striped
// over 4 real ferryd servers on this host (strip 1 MiB, default
// settings) into buffers of either page size: a fresh buffer each time,
// untouched before the read, with the registration cache asking for
// huge pages (the default) and not (RegCacheSmallPages); and one buffer
// read into again and again, which the application advised for huge
// pages (madvise MADV_HUGEPAGE, as a host whose transparent huge pages
// are "always" does for it) or not before filling it. Beside the rate it
// reports the client's and the servers' CPU per GiB. Run with
//
//	go test -run '^$' -bench HugePages -benchtime 10x -count 3 ./bench
func BenchmarkHugePages(b *testing.B) {
	ctx := context.Background()
	cl := headlineCluster(b)
	pids := cl.own.Pids()
	const fileSize = 256 << 20
	src := make([]byte, fileSize)
	rand.Read(src)
	mount := func(small bool) *clientlib.File {
		c, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Timeout: time.Minute, RegCacheSmallPages: small, LocalReads: clientlib.LocalReadsOff})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		f, err := c.Open(ctx, "/huge")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		return f
	}
	{
		c, err := clientlib.Mount(ctx, cl.cfgPath, clientlib.Options{Timeout: time.Minute, LocalReads: clientlib.LocalReadsOff})
		if err != nil {
			b.Fatal(err)
		}
		f, err := c.Create(ctx, "/huge", clientlib.CreateOptions{})
		if err == nil {
			_, err = f.WriteAt(src, 0)
			f.Close()
		}
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	anon := func(b *testing.B, huge bool) []byte {
		p, err := unix.Mmap(-1, 0, fileSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			b.Fatal(err)
		}
		if huge {
			unix.Madvise(p, unix.MADV_HUGEPAGE)
		}
		return p
	}
	// read times reads of the file; next gives each its buffer (untimed)
	// and done takes it back.
	read := func(name string, f *clientlib.File, next func(*testing.B) []byte, done func([]byte)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(fileSize)
			var cpu, srv float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p := next(b)
				b.StartTimer()
				c0, s0 := selfCPU(), serverCPU(pids)
				if n, err := f.ReadAt(p, 0); n != fileSize || err != nil {
					b.Fatalf("%d bytes, %v", n, err)
				}
				cpu, srv = cpu+selfCPU()-c0, srv+serverCPU(pids)-s0
				b.StopTimer()
				if !bytes.Equal(p[fileSize/2:fileSize/2+4096], src[fileSize/2:fileSize/2+4096]) {
					b.Fatal("the bytes read differ from the file's")
				}
				done(p)
				b.StartTimer()
			}
			perGiB := float64(1<<30) / fileSize / float64(b.N)
			b.ReportMetric(cpu*perGiB, "client-s/GiB")
			b.ReportMetric(srv*perGiB, "server-s/GiB")
		})
	}
	unmap := func(p []byte) { unix.Munmap(p) }
	keep := func([]byte) {}
	for _, small := range []bool{false, true} {
		name := "fresh/huge-pages"
		if small {
			name = "fresh/small-pages"
		}
		read(name, mount(small), func(b *testing.B) []byte { return anon(b, false) }, unmap)
	}
	f := mount(false)
	for _, huge := range []bool{true, false} {
		p := anon(b, huge)
		copy(p, src) // filled, as an application fills its buffer
		name := "reuse/huge-buffer"
		if !huge {
			name = "reuse/small-buffer"
		}
		read(name, f, func(*testing.B) []byte { return p }, keep)
		unix.Munmap(p)
	}
}
