package itest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/internal/testenv"
	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// needProvider skips the test when this machine cannot open provider, or
// fails it under FERRY_TEST_REQUIRE_FABRIC=1 (see internal/testenv).
func needProvider(t *testing.T, provider string) {
	t.Helper()
	ep, err := verbs.Open(verbs.Config{Provider: provider})
	if errors.Is(err, verbs.ErrNotSupported) {
		testenv.SkipOrFail(t, "provider %s: %v", provider, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ep.Close()
}

var rdmaProviders = []string{"shm", "tcp;ofi_rxm"}
var rdmaStrategies = []string{"copy", "pipeline", "sendfile", "auto"}

// TestRDMAStrategies: every strategy × provider × direction, multi-strip
// unaligned I/O against a local reference, short reads at the end, holes.
func TestRDMAStrategies(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 64 << 10, Edit: func(c *config.Config) {
		for i := range c.Servers {
			c.Servers[i].ChunkSize = 64 << 10 // small chunks: many pipeline steps per request
			c.Servers[i].PoolBytes = 2 << 20
		}
	}})
	for _, prov := range rdmaProviders {
		t.Run(prov, func(t *testing.T) {
			needProvider(t, prov)
			for _, st := range rdmaStrategies {
				t.Run(st, func(t *testing.T) {
					c := cl.Mount(t, clientlib.Options{Provider: prov, Strategy: st, EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff})
					if got := c.DataPath(0); got != "rdma:"+prov {
						t.Fatalf("data path %q, want rdma:%s", got, prov)
					}
					checkAgainstReference(t, c, "/rdma-"+st+"-"+filepath.Base(prov), 64<<10, int64(rand.Uint32()))
				})
			}
		})
	}
	// The servers served by RMA, not by a silent fallback to sockets.
	c := cl.Mount(t, clientlib.Options{})
	st, err := c.ServerStats(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rdmaStrategies {
		if s != "auto" && st["read.bytes."+s] == 0 {
			t.Errorf("server 1 counted no bytes read by %s: %v", s, st)
		}
	}
}

func checkAgainstReference(t *testing.T, c *clientlib.Client, name string, strip int64, seed int64) {
	t.Helper()
	f, err := c.Create(ctx, name, clientlib.CreateOptions{StripSize: strip})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.Create(filepath.Join(t.TempDir(), "ref"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	// A hole first: a write far out.
	far := 9*strip + 77
	if _, err := f.WriteAt([]byte("tail"), far); err != nil {
		t.Fatal(err)
	}
	ref.WriteAt([]byte("tail"), far)
	for i := 0; i < 25; i++ {
		off := r.Int64N(10 * strip)
		n := 1 + r.Int64N(5*strip)
		buf := make([]byte, n)
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		if w, err := f.WriteAt(buf, off); err != nil || w != len(buf) {
			t.Fatalf("WriteAt(%d @ %d) = %d, %v", n, off, w, err)
		}
		ref.WriteAt(buf, off)
		roff := r.Int64N(11 * strip)
		rn := 1 + r.Int64N(5*strip)
		got := bytes.Repeat([]byte{0xee}, int(rn))
		want := make([]byte, rn)
		gn, gerr := f.ReadAt(got, roff)
		wn, werr := ref.ReadAt(want, roff)
		if gn != wn || !bytes.Equal(got[:gn], want[:wn]) || (werr == io.EOF) != errors.Is(gerr, io.EOF) {
			t.Fatalf("ReadAt(%d @ %d): ferry %d, %v; reference %d, %v; equal %v", rn, roff, gn, gerr, wn, werr, bytes.Equal(got[:gn], want[:wn]))
		}
	}
}

// Concurrent clients on disjoint ranges, over RMA, with a pool far smaller
// than the requests in flight: requests wait for buffers, none fails, and
// the pool's bound is what was used.
func TestRDMAPoolBoundUnderLoad(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 64 << 10, Edit: func(c *config.Config) {
		for i := range c.Servers {
			c.Servers[i].ChunkSize = 64 << 10
			c.Servers[i].PoolBytes = 4 * 64 << 10 // 4 buffers for 32 requests
			c.Servers[i].Strategy = "pipeline"
		}
		c.Timeout.Duration = 60 * time.Second // waiting for the pool is the point
	}})
	// 32 requests in flight at once, from 4 clients of 8 goroutines each.
	const clients, part = 32, 512 << 10
	c0 := cl.Mount(t, clientlib.Options{Provider: "shm"})
	if _, err := c0.Create(ctx, "/pool", clientlib.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	mounts := make([]*clientlib.Client, 4)
	for i := range mounts {
		// EagerThreshold 1: every request by RMA (shm's default sends
		// these 64 KiB pieces inline).
		mounts[i] = cl.Mount(t, clientlib.Options{Provider: "shm", Strategy: "pipeline", Timeout: 60 * time.Second, EagerThreshold: 1})
	}
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := mounts[i%len(mounts)].Open(ctx, "/pool")
			if err != nil {
				errs <- err
				return
			}
			buf := bytes.Repeat([]byte{byte(i + 1)}, part)
			if _, err := f.WriteAt(buf, int64(i*part)); err != nil {
				errs <- err
				return
			}
			got := make([]byte, part)
			if _, err := f.ReadAt(got, int64(i*part)); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, buf) {
				errs <- fmt.Errorf("client %d read back other bytes", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var waits int64
	for id := 0; id < 2; id++ {
		st, err := c0.ServerStats(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st["pool.buffers.shm"] != 4 {
			t.Fatalf("server %d pool has %d buffers, config says 4", id, st["pool.buffers.shm"])
		}
		waits += st["pool.waits.shm"]
	}
	if waits == 0 {
		t.Fatal("32 concurrent requests on 4 buffers never waited: the pool is not bounding anything")
	}
}

// A client that advertises a window smaller than its request gets an error,
// and the server writes nothing outside the window.
func TestRDMAWindowChecked(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 64 << 10})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	f, err := c.Create(ctx, "/win", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xab}, 256<<10), 0)

	ep, err := verbs.Open(verbs.Config{Provider: "shm"})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	const guard, win = 4096, 64 << 10
	mem := bytes.Repeat([]byte{0x11}, guard+win+guard)
	mr, err := ep.RegisterBytes(mem, verbs.AccessLocal|verbs.AccessRemoteWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	rb, err := mr.Remote(guard, win)
	if err != nil {
		t.Fatal(err)
	}
	// shm is served only on the Unix socket, where the server knows the
	// process it writes to.
	nc, err := net.Dial("unix", cl.Config.Servers[0].SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	call := func(op proto.Op, m proto.Message, data bool) (proto.Header, []byte) {
		t.Helper()
		var frame []byte
		if data {
			frame = proto.AppendDataFrame(nil, proto.Header{Op: op, ID: 9}, m, 0)
		} else {
			frame = proto.Frame(proto.Header{Op: op, ID: 9}, m)
		}
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
		h, err := proto.ReadHeader(nc)
		if err != nil {
			t.Fatal(err)
		}
		body, err := proto.ReadBody(nc, h)
		if err != nil {
			t.Fatal(err)
		}
		return h, body
	}
	if h, _ := call(proto.OpHello, &proto.HelloReq{Client: "window test", Fabrics: []proto.Fabric{{Provider: "shm", Addr: ep.Address()}}}, false); h.Status != 0 {
		t.Fatalf("hello: status %d", h.Status)
	}
	l := layout.Layout{StripSize: 64 << 10, Count: 1, Total: 1}
	req := &proto.IOReq{Handle: f.Handle(), Cap: f.Capability(), Layout: l, Transport: proto.RDMA, Provider: "shm", Strategy: "pipeline",
		Remote:  proto.RemoteBuf{Addr: rb.Addr, Key: rb.Key, Len: rb.Len},
		Extents: []proto.Extent{{Local: 0, Len: win + 4096, BufOff: 0}}} // one page past the window
	h, _ := call(proto.OpRead, req, false)
	if syscall.Errno(h.Status) != syscall.EBADMSG {
		t.Fatalf("read past the window: status %d, want EBADMSG", h.Status)
	}
	req.Extents = []proto.Extent{{Local: 4096, Len: 100, BufOff: win - 50}} // straddles the end
	if h, _ := call(proto.OpRead, req, false); syscall.Errno(h.Status) != syscall.EBADMSG {
		t.Fatalf("read straddling the window's end: status %d", h.Status)
	}
	if h, _ := call(proto.OpWrite, req, true); syscall.Errno(h.Status) != syscall.EBADMSG {
		t.Fatalf("write straddling the window's end: status %d", h.Status)
	}
	for i, b := range mem {
		if b != 0x11 {
			t.Fatalf("byte %d of the buffer changed (window is [%d, %d))", i, guard, guard+win)
		}
	}
	// The exact window is served, and still nothing lands outside it.
	req.Extents = []proto.Extent{{Local: 0, Len: win, BufOff: 0}}
	if h, _ := call(proto.OpRead, req, false); h.Status != 0 {
		t.Fatalf("read of the exact window: status %d", h.Status)
	}
	for i, b := range mem {
		inside := i >= guard && i < guard+win
		if inside && b != 0xab || !inside && b != 0x11 {
			t.Fatalf("byte %d = %#x after the exact read", i, b)
		}
	}
}

// A client that cannot use a fabric (provider none) still works, on sockets.
func TestProviderNoneUsesSockets(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	if got := c.DataPath(0); got != "sockets (provider none)" {
		t.Fatalf("data path %q", got)
	}
	checkAgainstReference(t, c, "/nofabric", 64<<10, 3)
	if _, err := clientlib.Mount(context.Background(), cl.ConfigPath, clientlib.Options{Strategy: "warp"}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("unknown strategy: %v", err)
	}
	if _, err := clientlib.Mount(context.Background(), cl.ConfigPath, clientlib.Options{Provider: "carrier-pigeon"}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("unknown provider: %v", err)
	}
}

// auto serves resident reads and writes by sendfile or by pipeline as the
// config fixes it (auto_sendfile true or false); unset, by the one the
// server measured cheaper (its auto.cost counters), once the measure is
// in. Bytes are identical whichever it takes.
func TestAutoChoice(t *testing.T) {
	needProvider(t, "shm")
	yes, no := true, false
	for _, fixed := range []*bool{&no, &yes, nil} {
		name := "measured"
		if fixed != nil {
			name = fmt.Sprintf("auto_sendfile=%v", *fixed)
		}
		cl := testcluster.Start(t, testcluster.Options{Servers: 1, Edit: func(c *config.Config) {
			c.Servers[0].AutoSendfile = fixed
		}})
		c := cl.Mount(t, clientlib.Options{Provider: "shm", Strategy: "auto", LocalReads: clientlib.LocalReadsOff})
		f, err := c.Create(ctx, "/auto", clientlib.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stats := func() map[string]int64 {
			st, err := c.ServerStats(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		data := bytes.Repeat([]byte("auto"), 256<<10)
		got := make([]byte, len(data))
		// rw writes data (a new region, then an overwrite of resident
		// pages) and reads it back, and returns what auto chose.
		rw := func(round int) (writes, reads int64) {
			copy(data, fmt.Sprintf("round %d", round))
			st0 := stats()
			if _, err := f.WriteAt(data, 0); err != nil {
				t.Fatalf("%s: write: %v", name, err)
			}
			st1 := stats()
			clear(got)
			if n, err := f.ReadAt(got, 0); n != len(got) || err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: read %d, %v", name, n, err)
			}
			st2 := stats()
			return st1["auto.chose.sendfile"] - st0["auto.chose.sendfile"], st2["auto.chose.sendfile"] - st1["auto.chose.sendfile"]
		}
		rw(0)
		var st map[string]int64
		for i := 0; ; i++ {
			if st = stats(); fixed != nil || st["auto.cost.read.pipeline.us"] > 0 || i == 200 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		var wantW, wantR bool
		if fixed != nil {
			wantW, wantR = *fixed, *fixed
			if st["auto.cost.read.pipeline.us"] != 0 {
				t.Errorf("%s: measured copy costs though the choice is fixed: %v", name, st)
			}
		} else {
			if st["auto.cost.read.pipeline.us"] == 0 || st["auto.cost.read.sendfile.us"] == 0 {
				t.Fatalf("%s: no copy costs measured: %v", name, st)
			}
			wantR = st["auto.cost.read.sendfile.us"] < st["auto.cost.read.pipeline.us"]
			wantW = st["auto.cost.write.sendfile.us"] < st["auto.cost.write.pipeline.us"]
			t.Logf("costs (µs) read pipeline %d sendfile %d, write pipeline %d sendfile %d",
				st["auto.cost.read.pipeline.us"], st["auto.cost.read.sendfile.us"],
				st["auto.cost.write.pipeline.us"], st["auto.cost.write.sendfile.us"])
		}
		if !haveCachestat(t) {
			wantW = false // overwrites need cachestat(2) to be seen resident
		}
		for round := 1; round <= 2; round++ {
			w, r := rw(round)
			if (w > 0) != wantW || (r > 0) != wantR {
				t.Fatalf("%s, round %d: sendfile served %d writes and %d reads, want writes %v reads %v; counters %v",
					name, round, w, r, wantW, wantR, stats())
			}
		}
		// Measured: pages written back (fsync) are overwritten by
		// pipeline (a mapping's first write to each is a fault), and
		// the write after that, to pages now dirty, by sendfile. tmpfs
		// never cleans its pages.
		var fs syscall.Statfs_t
		if fixed == nil && wantW && syscall.Statfs(cl.Dir, &fs) == nil && fs.Type != 0x01021994 /* TMPFS_MAGIC */ {
			if err := f.Sync(ctx); err != nil {
				t.Fatalf("%s: sync: %v", name, err)
			}
			if w, _ := rw(3); w != 0 {
				t.Fatalf("%s: sendfile served %d writes over pages just written back, want pipeline", name, w)
			}
			if w, _ := rw(4); w == 0 {
				t.Fatalf("%s: the write after a pipeline write went by pipeline too, want sendfile; counters %v", name, stats())
			}
		}
		// A write that extends the datafile goes by pipeline unless the
		// config asks for sendfile.
		st0 := stats()
		if _, err := f.WriteAt(data, int64(len(data))); err != nil {
			t.Fatalf("%s: append: %v", name, err)
		}
		appended := stats()["auto.chose.sendfile"] - st0["auto.chose.sendfile"]
		if wantAppend := fixed != nil && *fixed; (appended > 0) != wantAppend {
			t.Fatalf("%s: sendfile served %d appending writes, want some: %v", name, appended, wantAppend)
		}
	}
}

// haveCachestat says whether the kernel has cachestat(2) (Linux 6.5).
func haveCachestat(t *testing.T) bool {
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Cachestat_t
	return unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Len: 4096}, &st, 0) == nil
}

// TestPeersLeaveAddressVector: a client's fabric address leaves the
// server's address vector when its connection closes, so clients coming
// and going never fill the server's table.
func TestPeersLeaveAddressVector(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	for i := 0; i < 12; i++ {
		c := cl.Mount(t, clientlib.Options{Provider: "shm", EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff})
		checkAgainstReference(t, c, fmt.Sprintf("/peers-%d", i), 64<<10, int64(i))
		c.Close()
	}
	probe := cl.Mount(t, clientlib.Options{Provider: "shm"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		st, err := probe.ServerStats(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The probe itself is connected: one peer.
		if n, ok := st["fabric.peers.shm"]; ok && n <= 1 {
			return
		} else if !ok {
			t.Fatalf("server 0 reports no fabric.peers.shm: %v", st)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server 0 still holds %d shm peers after 12 clients closed", st["fabric.peers.shm"])
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestEagerThresholdDefaults: by default a client on shm sends requests
// below 1 MiB inline and larger ones by RMA, a client on a networked
// provider sends everything from 16 KiB by RMA, and an explicit threshold
// wins over both (the servers count each request by how its bytes moved).
func TestEagerThresholdDefaults(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 1 << 20})
	counts := func(c *clientlib.Client, key string) int64 {
		t.Helper()
		var n int64
		for id := 0; id < 2; id++ {
			st, err := c.ServerStats(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			n += st[key]
		}
		return n
	}
	for _, tc := range []struct {
		name, prov string
		eager      int64
		size       int64
		want       string // the transport counter the request lands in
	}{
		{"shm default, 512 KiB", "shm", 0, 512 << 10, "inline"},
		{"shm default, 1 MiB", "shm", 0, 1 << 20, "shm"},
		{"shm threshold 1, 512 KiB", "shm", 1, 512 << 10, "shm"},
		{"tcp default, 64 KiB", "tcp;ofi_rxm", 0, 64 << 10, "tcp;ofi_rxm"},
		{"tcp default, 8 KiB", "tcp;ofi_rxm", 0, 8 << 10, "inline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needProvider(t, tc.prov)
			c := cl.Mount(t, clientlib.Options{Provider: tc.prov, EagerThreshold: tc.eager, LocalReads: clientlib.LocalReadsOff})
			f, err := c.Create(ctx, "/eager-"+strings.NewReplacer(" ", "-", ",", "", ";", "-").Replace(tc.name), clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, tc.size)
			for i := range buf {
				buf[i] = byte(i*7 + 1)
			}
			for _, dir := range []string{"write", "read"} {
				key := dir + ".transport_requests." + tc.want
				before := counts(c, key)
				if dir == "write" {
					_, err = f.WriteAt(buf, 0)
				} else {
					got := make([]byte, tc.size)
					if _, err = f.ReadAt(got, 0); err == nil && !bytes.Equal(got, buf) {
						t.Fatalf("read back differs from what was written")
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				if d := counts(c, key) - before; d != 1 {
					t.Errorf("%s of %d bytes: %s grew by %d, want 1", dir, tc.size, key, d)
				}
			}
		})
	}
}
