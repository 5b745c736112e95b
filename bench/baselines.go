package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/ferry-hpc/ferry/verbs"
)

// Baseline names, as they appear in the CSV and tables.
const (
	BaseMemcpy     = "memcpy"       // single-thread copy, cycling through a buffer larger than the caches
	BasePread      = "pread"        // local pread of the bench file's datafiles (page-cache bandwidth)
	BaseFabric     = "fabric-write" // raw verbs fi_write between two endpoints of one process
	BaseFabricRead = "fabric-read"  // raw verbs fi_read (what the server does for a Ferry write)
	BaseTCP        = "tcp-loopback" // one TCP stream over 127.0.0.1
	BaseUnix       = "unix-stream"  // one Unix stream socket, as a local client's control connection
)

// cycle hands out successive size-byte windows of a buffer, wrapping.
type cycle struct {
	n, size, off int
}

func (c *cycle) next() int {
	if c.off+c.size > c.n {
		c.off = 0
	}
	o := c.off
	c.off += c.size
	return o
}

// repBytes is how many bytes one repetition moves at request size size:
// the volume, rounded up to whole requests, at least two requests.
func repBytes(volume, size int64) int64 {
	n := (volume + size - 1) / size
	if n < 2 {
		n = 2
	}
	return n * size
}

func gbs(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds() / 1e9
}

// memcpyRun copies size-byte pieces from src to dst, cycling through both.
func memcpyRun(dst, src []byte, size, volume int64) float64 {
	n := repBytes(volume, size)
	c := cycle{n: min(len(dst), len(src)), size: int(size)}
	start := time.Now()
	for moved := int64(0); moved < n; moved += size {
		o := c.next()
		copy(dst[o:o+int(size)], src[o:o+int(size)])
	}
	return gbs(n, time.Since(start))
}

// preadRun reads files in size-byte pieces into buf (cycling), wrapping
// around the files until volume bytes are read.
func preadRun(files []string, buf []byte, size, volume int64) (float64, error) {
	if len(files) == 0 {
		return 0, errors.New("no datafiles to read")
	}
	var fds []*os.File
	for _, f := range files {
		fd, err := os.Open(f)
		if err != nil {
			return 0, err
		}
		defer fd.Close()
		fds = append(fds, fd)
	}
	n := repBytes(volume, size)
	c := cycle{n: len(buf), size: int(size)}
	var moved int64
	fi, off := 0, int64(0)
	start := time.Now()
	for moved < n {
		o := c.next()
		k, err := fds[fi].ReadAt(buf[o:o+int(size)], off)
		moved += int64(k)
		off += int64(k)
		if err == io.EOF || k == 0 {
			fi, off = (fi+1)%len(fds), 0
			continue
		}
		if err != nil {
			return 0, err
		}
	}
	return gbs(moved, time.Since(start)), nil
}

// fabricPair is two endpoints of one provider in this process, with a
// local source region and a remote destination region.
type fabricPair struct {
	a, b    *verbs.Endpoint
	peer    verbs.Peer
	src     *verbs.MemoryRegion
	dst     *verbs.MemoryRegion
	rb      verbs.RemoteBuffer
	srcBuf  []byte
	dstBuf  []byte
	version string
}

func openFabricPair(prov string, src, dst []byte) (*fabricPair, error) {
	a, err := verbs.Open(verbs.Config{Provider: prov})
	if err != nil {
		return nil, err
	}
	b, err := verbs.Open(verbs.Config{Provider: prov})
	if err != nil {
		a.Close()
		return nil, err
	}
	p := &fabricPair{a: a, b: b, srcBuf: src, dstBuf: dst, version: a.Info().Version}
	if p.peer, err = a.Connect(b.Address()); err != nil {
		p.close()
		return nil, err
	}
	if p.src, err = a.Register(unsafe.Pointer(&src[0]), len(src), verbs.AccessLocal); err != nil {
		p.close()
		return nil, err
	}
	if p.dst, err = b.Register(unsafe.Pointer(&dst[0]), len(dst), verbs.AccessRemoteRead|verbs.AccessRemoteWrite); err != nil {
		p.close()
		return nil, err
	}
	if p.rb, err = p.dst.Remote(0, uint64(len(dst))); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *fabricPair) close() {
	if p.src != nil {
		p.src.Close()
	}
	if p.dst != nil {
		p.dst.Close()
	}
	p.a.Close()
	p.b.Close()
}

// fabricDepths are the RMA operations in flight the fabric baseline tries
// (the client keeps up to 4 requests in flight per server); the better
// one is the limit.
var fabricDepths = []int{1, 4}

// rmaRun does size-byte fi_writes (or fi_reads from the peer's region into
// the local one), depth in flight, cycling through the regions.
func (p *fabricPair) rmaRun(ctx context.Context, write bool, depth int, size, volume int64) (float64, error) {
	n := repBytes(volume, size)
	c := cycle{n: min(len(p.srcBuf), len(p.dstBuf)), size: int(size)}
	ring := make([]*verbs.Op, depth)
	start := time.Now()
	i := 0
	for moved := int64(0); moved < n; moved += size {
		k := i % depth
		i++
		if ring[k] != nil {
			if err := ring[k].Wait(ctx); err != nil {
				return 0, err
			}
		}
		o := uint64(c.next())
		var op *verbs.Op
		var err error
		if write {
			op, err = p.a.Start(ctx, verbs.RMA{Kind: verbs.Write, Peer: p.peer, Local: verbs.One(p.src, o, uint64(size)), Remote: p.rb, Off: o})
		} else {
			op, err = p.a.Start(ctx, verbs.RMA{Kind: verbs.Read, Peer: p.peer, Local: verbs.One(p.src, o, uint64(size)), Remote: p.rb, Off: o})
		}
		if err != nil {
			return 0, err
		}
		ring[k] = op
	}
	for _, op := range ring {
		if op != nil {
			if err := op.Wait(ctx); err != nil {
				return 0, err
			}
		}
	}
	return gbs(n, time.Since(start)), nil
}

// streamRun streams volume bytes in size-byte writes over one connection
// of network: "tcp" over 127.0.0.1, or "unix" on a socket in a new
// temporary directory. The reader reads into its own cycling buffer.
func streamRun(ctx context.Context, network string, src, dst []byte, size, volume int64) (float64, error) {
	addr := "127.0.0.1:0"
	if network == "unix" {
		dir, err := os.MkdirTemp("", "ferry-bench-unix")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		addr = filepath.Join(dir, "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	n := repBytes(volume, size)
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		c := cycle{n: len(dst), size: int(size)}
		var got int64
		for got < n {
			o := c.next()
			k, err := io.ReadFull(conn, dst[o:o+int(size)])
			got += int64(k)
			if err != nil {
				done <- err
				return
			}
		}
		_, err = conn.Write([]byte{1}) // ack: every byte arrived
		done <- err
	}()
	conn, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c := cycle{n: len(src), size: int(size)}
	start := time.Now()
	for moved := int64(0); moved < n; moved += size {
		o := c.next()
		if _, err := conn.Write(src[o : o+int(size)]); err != nil {
			return 0, err
		}
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return 0, fmt.Errorf("%s stream ack: %w", network, err)
	}
	el := time.Since(start)
	if err := <-done; err != nil {
		return 0, err
	}
	return gbs(n, el), nil
}
