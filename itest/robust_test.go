package itest

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// Clients stopped (SIGSTOP) in the middle of their transfers hold the
// server's registered buffers; a new client still completes within its
// timeout: shares keep the stopped ones from taking the whole pool, and
// their requests' budgets end, which drops them and frees what they held.
func TestStoppedClientsDoNotStarve(t *testing.T) {
	const prov = "tcp;ofi_rxm"
	needProvider(t, prov)
	const timeout = 10 * time.Second
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 1 << 20, Edit: func(c *config.Config) {
		c.Timeout.Duration = timeout
		c.Servers[0].Provider = prov
		c.Servers[0].Strategy = "pipeline"
		c.Servers[0].PoolBytes = 4 << 20 // fewer buffers than stopped clients
	}})
	var procs []*clientProc
	for i := range 16 {
		procs = append(procs, startClient(t, "loop", cl.ConfigPath, fmt.Sprintf("/stopped%d", i), 4<<20, "FERRY_PROVIDER="+prov))
	}
	for i, p := range procs {
		select {
		case <-p.ready:
		case <-time.After(60 * time.Second):
			t.Fatalf("client %d: no first round within 60s: %s", i, p.stderr.Bytes())
		}
	}
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGSTOP)
	}
	time.Sleep(time.Second) // stopped mid-transfer, not just now
	c := cl.Mount(t, clientlib.Options{Provider: prov, Timeout: timeout})
	f, err := c.Create(ctx, "/newcomer", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 4<<20)
	fillSeeded(want, 42)
	for round := range 3 {
		if _, err := f.WriteAt(want, 0); err != nil {
			st, _ := c.ServerStats(ctx, 0)
			log, _ := os.ReadFile(cl.LogPath(0))
			t.Fatalf("round %d: write with 16 clients stopped: %v (server: %d clients dropped, %d peers)\n%s", round, err,
				st["fabric.dropped."+prov], st["fabric.peers."+prov], log)
		}
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatalf("round %d: read with 16 clients stopped: %v", round, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: bytes differ", round)
		}
	}
	st, err := c.ServerStats(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pool waits %d, clients dropped %d", st["pool.waits."+prov], st["fabric.dropped."+prov])
}

// Many client processes at once on the default path (auto: shm to 4
// local servers, the default 30 s timeout), and 256 of them on sockets:
// every byte written is read back, not one call fails, and each server's
// peak resident memory stays within the bound the README gives.
func TestManyConcurrentClients(t *testing.T) {
	needProvider(t, "shm")
	for _, tc := range []struct {
		name string
		n    int
		size int // per client: each server still gets an RMA-sized piece
		env  []string
	}{
		{"64", 64, 4 << 20, nil},
		// 256 KiB per server: inline by shm's default eager threshold,
		// so RMA is asked for, as it was the default when this was
		// written and is the path with the more to get wrong.
		{"256", 256, 1 << 20, []string{"FERRY_EAGER_THRESHOLD=1"}},
		{"256-sockets", 256, 1 << 20, []string{"FERRY_PROVIDER=sockets"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.n > 64 && testing.Short() {
				t.Skip("256 client processes")
			}
			concurrentClients(t, tc.n, tc.size, tc.env...)
		})
	}
}

func concurrentClients(t *testing.T, n, size int, env ...string) {
	// On 2 cores the clients' own start (each opens a fabric, shm one
	// region per server) takes most of the CPU for a minute: the
	// default timeout, not the tests' shorter one.
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 256 << 10, Edit: func(c *config.Config) {
		c.Timeout.Duration = 30 * time.Second
	}})
	// Every client mounts and creates its file while the others start
	// (hellos and creates all at once), then all write and read at
	// once: on 2 cores each process's own start (Go runtime, libfabric,
	// an shm region per server) is about 0.3 s of CPU, and 256 of them
	// starting beside the transfers would measure the machine's
	// oversubscription rather than the servers.
	start := time.Now()
	procs := make([]*clientProc, n)
	for i := range procs {
		procs[i] = startClient(t, "gate", cl.ConfigPath, fmt.Sprintf("/many%d", i), size, env...)
	}
	var failed []string
	exited := make([]bool, n)
	for i, p := range procs {
		select {
		case <-p.ready:
		case <-p.closed:
			exited[i] = true
			failed = append(failed, fmt.Sprintf("client %d: exited before its round: %v", i, p.wait(10*time.Second)))
		case <-time.After(180 * time.Second):
			exited[i] = true
			failed = append(failed, fmt.Sprintf("client %d: not mounted within 180s: %v", i, p.wait(time.Second)))
		}
	}
	started := time.Now()
	for _, p := range procs {
		p.gate.Close()
	}
	for i, p := range procs {
		if exited[i] {
			continue
		}
		if err := p.wait(180 * time.Second); err != nil {
			failed = append(failed, fmt.Sprintf("client %d: %v", i, err))
		}
	}
	var cpu time.Duration
	for _, p := range procs {
		if st := p.cmd.ProcessState; st != nil {
			cpu += st.UserTime() + st.SystemTime()
		}
	}
	t.Logf("%d clients mounted in %v, wrote and read %d bytes each in %v (clients' CPU time %v)", n,
		started.Sub(start).Round(time.Millisecond), size, time.Since(started).Round(time.Millisecond), cpu.Round(time.Millisecond))
	// The slowest calls against the timeout each of them had.
	var writes, reads []time.Duration
	for i, p := range procs {
		if exited[i] {
			continue
		}
		select {
		case <-p.closed:
		case <-time.After(10 * time.Second):
			continue
		}
		if p.writeCall > 0 {
			writes, reads = append(writes, p.writeCall), append(reads, p.readCall)
		}
	}
	if len(writes) > 0 {
		slices.Sort(writes)
		slices.Sort(reads)
		t.Logf("calls of %d clients: write median %v, slowest %v; read median %v, slowest %v (timeout %v)", len(writes),
			writes[len(writes)/2].Round(time.Millisecond), writes[len(writes)-1].Round(time.Millisecond),
			reads[len(reads)/2].Round(time.Millisecond), reads[len(reads)-1].Round(time.Millisecond), cl.Config.Timeout.Duration)
	}
	if len(failed) > 0 {
		for i := range cl.Config.Servers {
			log, _ := os.ReadFile(cl.LogPath(i))
			t.Logf("server %d log:\n%s", i, log)
		}
		t.Fatalf("%d of %d clients failed:\n%s", len(failed), n, bytes.Join(toBytes(failed), []byte("\n")))
	}
	checkServerMemory(t, cl, 2*n)
}

// checkServerMemory checks each server's peak resident memory (VmHWM)
// against the README's bound: each fabric's pool in circulation (its
// spares too once a client was dropped), 128 MiB for the program and
// libfabric's own endpoint buffers, 40 MiB for auto's copy-cost
// measurement (for a moment, at the first request), a 64 KiB frame buffer
// plus a few KiB for each of at most conns connections, and the page-cache
// pages of the
// datafiles that sendfile maps (at most the datafiles' bytes: they count
// in the resident set but are the page cache's, not the server's).
func checkServerMemory(t *testing.T, cl *testcluster.Cluster, conns int) {
	t.Helper()
	c := cl.Mount(t, clientlib.Options{Provider: "sockets"})
	for id, pid := range cl.Pids() {
		st, err := c.ServerStats(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		chunk := cl.Config.Servers[id].ChunkSize
		if chunk == 0 {
			chunk = config.DefaultChunkSize
		}
		// 40 MiB: auto's copy-cost measurement, for a moment.
		bound, fabrics := int64(128<<20+40<<20)+int64(conns)*(72<<10), 0
		for k, v := range st {
			prov, ok := strings.CutPrefix(k, "pool.buffers.")
			if !ok {
				continue
			}
			fabrics++
			pool := v * chunk
			if st["fabric.dropped."+prov] > 0 {
				pool *= 2
			}
			bound += pool
		}
		if fabrics == 0 {
			t.Fatalf("server %d reports no fabric pool: %v", id, st)
		}
		files := datafileBytes(t, filepath.Join(cl.Config.Servers[id].Storage, "data"))
		bound += files
		hwm := vmHWM(t, pid)
		t.Logf("server %d: peak resident %d MiB, bound %d MiB (%d fabrics, %d MiB of datafiles)", id, hwm>>20, bound>>20, fabrics, files>>20)
		if hwm > bound {
			t.Errorf("server %d: peak resident memory %d MiB is over the bound of %d MiB", id, hwm>>20, bound>>20)
		}
	}
}

// datafileBytes is the bytes of the datafiles under dir, each rounded up
// to whole pages (what a mapping of it can make resident).
func datafileBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += (fi.Size() + 4095) &^ 4095
		return nil
	})
	if err != nil {
		t.Fatalf("datafiles in %s: %v", dir, err)
	}
	return n
}

// vmHWM is the process's peak resident set, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// Client processes come and go, 300 in all, more than the shm address
// vector holds (256): each leaves the server's address vector when its
// connection closes, so the server keeps serving.
func TestSequentialShmClients(t *testing.T) {
	needProvider(t, "shm")
	if testing.Short() {
		t.Skip("300 client processes one after another")
	}
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 64 << 10, Edit: func(c *config.Config) {
		c.Servers[0].Provider = "shm"
	}})
	// A few at a time, so that the test takes less than a process's
	// life times 300; never more than 24 are connected at once.
	const total, atOnce = 300, 24
	for i := 0; i < total; i += atOnce {
		var procs []*clientProc
		for k := i; k < min(i+atOnce, total); k++ {
			procs = append(procs, startClient(t, "once", cl.ConfigPath, fmt.Sprintf("/seq%d", k%atOnce), 256<<10, "FERRY_PROVIDER=shm", "FERRY_EAGER_THRESHOLD=1"))
		}
		for k, p := range procs {
			if err := p.wait(60 * time.Second); err != nil {
				t.Fatalf("client %d: %v", i+k, err)
			}
		}
	}
	c := cl.Mount(t, clientlib.Options{Provider: "shm"})
	st, err := c.ServerStats(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if peers := st["fabric.peers.shm"]; peers > 2 {
		t.Fatalf("%d shm peers in the server's address vector with one client connected", peers)
	}
}

// Thousands of idle and half-sent connections, and a server out of
// descriptors: the server closes idle connections to make room, backs
// off on EMFILE, keeps serving, and does not exit.
func TestManyIdleConnections(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 64 << 10, Edit: func(c *config.Config) {
		c.Timeout.Duration = 3 * time.Second
		c.MaxConnsPerHost = 1000
	}})
	addr := cl.Config.Servers[0].Address
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	half := proto.AppendHeader(nil, proto.Header{Op: proto.OpStats})[:10]
	for i := range 5000 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if i%10 == 0 {
			nc.Write(half) // a header cut short: closed after the timeout
		}
		conns = append(conns, nc)
	}
	check := func(when string) {
		t.Helper()
		c := cl.Mount(t, clientlib.Options{Provider: "none"})
		f, err := c.Create(ctx, "/idle-"+when, clientlib.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: create: %v", when, err)
		}
		want := bytes.Repeat([]byte("idle"), 1<<16)
		if _, err := f.WriteAt(want, 0); err != nil {
			t.Fatalf("%s: write: %v", when, err)
		}
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read: %v", when, err)
		}
		st, err := c.ServerStats(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: idle connections evicted %d, accept back-offs %d", when, st["conn.evicted_idle"], st["accept.backoff"])
	}
	check("flood")

	// Out of descriptors: the server must back off, not exit.
	pid := cl.Pids()[0]
	lim := unix.Rlimit{Cur: 200, Max: 200}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Skipf("prlimit on the server: %v", err)
	}
	for i := range 400 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d past the server's descriptor limit: %v", i, err)
		}
		conns = append(conns, nc)
	}
	check("emfile")
}

// A client that sends a bogus (well-formed, nobody's) shm address in its
// hello and then asks for an RDMA read gets an error reply within the
// budget it sent, not a server that retries forever.
func TestBogusPeerBounded(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 64 << 10, Edit: func(c *config.Config) {
		c.Servers[0].Provider = "shm"
		c.Servers[0].Strategy = "pipeline"
	}})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	f, err := c.Create(ctx, "/bogus", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{1}, 256<<10), 0)
	nc, err := net.Dial("tcp", cl.Config.Servers[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	send := func(op proto.Op, m proto.Message) (proto.Header, error) {
		t.Helper()
		if _, err := nc.Write(proto.Frame(proto.Header{Op: op, ID: 1}, m)); err != nil {
			t.Fatal(err)
		}
		h, err := proto.ReadHeader(nc)
		if err != nil {
			return h, err
		}
		_, err = proto.ReadBody(nc, h)
		return h, err
	}
	bogus := fmt.Appendf(nil, "fi_shm://%d:%d:77\x00", unix.Getpid(), unix.Getuid()) // this process has no such endpoint
	if _, _, err := verbs.ParseShmAddress(bogus); err != nil {
		t.Fatal(err)
	}
	if h, err := send(proto.OpHello, &proto.HelloReq{Client: "bogus", Fabrics: []proto.Fabric{{Provider: "shm", Addr: bogus}}}); err != nil || h.Status != 0 {
		t.Fatalf("hello: status %d, %v", h.Status, err)
	}
	req := &proto.IOReq{Handle: f.Handle(), Layout: layout.Layout{StripSize: 64 << 10, Count: 1, Total: 1},
		Transport: proto.RDMA, Provider: "shm", Remote: proto.RemoteBuf{Addr: 1 << 30, Key: 1, Len: 256 << 10},
		Extents: []proto.Extent{{Local: 0, Len: 256 << 10}}, Budget: 2 * time.Second}
	start := time.Now()
	// An error reply, or the connection closed (the peer dropped), both
	// within the budget and a little; never a hang.
	h, err := send(proto.OpRead, req)
	if err == nil && h.Status == 0 {
		t.Fatal("RDMA read into a bogus peer succeeded")
	}
	t.Logf("after %v: errno %d, %v", time.Since(start).Round(time.Millisecond), h.Status, err)
	if _, err := c.Stat(ctx, "/bogus"); err != nil {
		t.Fatalf("server after the bogus peer: %v", err)
	}
}

// Writes by sendfile land straight in the datafile's mapping: concurrent
// requests that each extend the file must never shrink it under another's
// mapping (the copy then fails with EIO on shm). A large file written in
// parallel pieces, several times over, reads back byte for byte.
func TestSendfileWritesRepeated(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 1 << 20, Edit: func(c *config.Config) {
		for i := range c.Servers {
			c.Servers[i].Provider = "shm"
		}
	}})
	c := cl.Mount(t, clientlib.Options{Provider: "shm", Strategy: "sendfile", Timeout: 60 * time.Second})
	const size, piece = 64 << 20, 1 << 20
	want := make([]byte, size)
	got := make([]byte, size)
	for round := range 4 {
		f, err := c.Create(ctx, fmt.Sprintf("/sendfile%d", round), clientlib.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fillSeeded(want, uint64(round))
		var wg sync.WaitGroup
		errs := make(chan error, size/piece)
		sem := make(chan struct{}, 16)
		for off := 0; off < size; off += piece {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if _, err := f.WriteAt(want[off:off+piece], int64(off)); err != nil {
					errs <- fmt.Errorf("write at %d: %w", off, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		clear(got)
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatalf("round %d: read: %v", round, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: bytes read differ from bytes written", round)
		}
	}
	for i := range 2 {
		st, err := c.ServerStats(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("server %d: %d bytes written by sendfile, %d fallbacks", i, st["write.bytes.sendfile"], st["fallback.sendfile"])
	}
}

// A read that times out because its server stopped must not change the
// caller's buffer after it returned, when the server resumes and finds
// the request: on shm the request's deadline keeps the server from
// posting; on tcp the client also revoked the buffer's registration.
func TestTimedOutReadLeavesBufferAlone(t *testing.T) {
	for _, prov := range rdmaProviders {
		t.Run(prov, func(t *testing.T) {
			needProvider(t, prov)
			cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 1 << 20, Edit: func(c *config.Config) {
				c.Servers[0].Provider = prov
				c.Servers[0].Strategy = "pipeline"
			}})
			t.Cleanup(func() { cl.Signal(0, syscall.SIGCONT) }) // before the cluster stops, if a check fails
			const timeout = 2 * time.Second
			c := cl.Mount(t, clientlib.Options{Provider: prov, Timeout: timeout})
			f, err := c.Create(ctx, "/stopped-server", clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			const size = 16 << 20
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xab}, size), 0); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, size)
			if _, err := f.ReadAt(buf, 0); err != nil { // registers buf (and caches it)
				t.Fatal(err)
			}
			// Stopped before the request arrives (deterministic) and,
			// second round, a moment after (mid-request, when it lands).
			for round, delay := range []time.Duration{0, 5 * time.Millisecond} {
				clear(buf)
				var stopper *time.Timer
				stopped := make(chan struct{})
				if delay == 0 {
					cl.Signal(0, syscall.SIGSTOP)
				} else {
					stopper = time.AfterFunc(delay, func() { cl.Signal(0, syscall.SIGSTOP); close(stopped) })
				}
				_, err := f.ReadAt(buf, 0)
				if err == nil {
					if stopper != nil && !stopper.Stop() {
						<-stopped // it fired: let it finish before resuming
					}
					cl.Signal(0, syscall.SIGCONT)
					t.Logf("round %d: the read finished before the server stopped", round)
					continue
				}
				for i := range buf {
					buf[i] = 0x5a
				}
				cl.Signal(0, syscall.SIGCONT)
				// The server now finds the request; give it time to act.
				time.Sleep(timeout)
				if _, err := c.Stat(ctx, "/stopped-server"); err != nil {
					t.Fatalf("round %d: server after resume: %v", round, err)
				}
				// ferry.h's one exception: on shm a copy the server had
				// started before it was stopped (one piece, at most one
				// bounce buffer, contiguous) may still land. Nothing else
				// may, and on tcp nothing at all.
				first, last := -1, -1
				for i, b := range buf {
					if b != 0x5a {
						if first < 0 {
							first = i
						}
						last = i
					}
				}
				allowed := 0
				if prov == "shm" {
					allowed = int(config.DefaultChunkSize)
				}
				if first >= 0 && last-first+1 > allowed {
					t.Fatalf("round %d: bytes %d..%d of the buffer changed after the read returned (%v); at most %d contiguous may (an in-flight copy)",
						round, first, last, err, allowed)
				}
				if first >= 0 {
					for i := first; i <= last; i++ {
						if buf[i] != 0xab {
							t.Fatalf("round %d: byte %d changed to %#x, not the file's byte", round, i, buf[i])
						}
					}
					t.Logf("round %d: an in-flight copy landed after the call returned: bytes %d..%d (allowed on shm)", round, first, last)
				}
			}
		})
	}
}

// On shm a server makes its first contact with a client's endpoint once
// per connection, before the first transfer (Fabric.reach): not once per
// request, and again for a client that connects anew (its peer left the
// address vector).
func TestFirstContactOncePerPeer(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 64 << 10, Edit: func(c *config.Config) {
		c.Servers[0].Provider = "shm"
	}})
	contacts := func(c *clientlib.Client) int64 {
		t.Helper()
		st, err := c.ServerStats(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return st["fabric.first_contacts.shm"]
	}
	want := make([]byte, 512<<10) // moved by RMA: the clients set EagerThreshold 1
	fillSeeded(want, 7)
	roundTrip := func(c *clientlib.Client, create bool) {
		t.Helper()
		var f *clientlib.File
		var err error
		if create {
			f, err = c.Create(ctx, "/contact", clientlib.CreateOptions{})
			if err == nil {
				_, err = f.WriteAt(want, 0)
			}
		} else {
			f, err = c.Open(ctx, "/contact")
		}
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("read back other bytes than written")
		}
	}
	a := cl.Mount(t, clientlib.Options{Provider: "shm", EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff})
	if n := contacts(a); n != 0 {
		t.Fatalf("%d first contacts before any transfer", n)
	}
	roundTrip(a, true)
	per := contacts(a) // one per endpoint (lane) of the client the server talked to
	if per < 1 {
		t.Fatalf("%d first contacts after a client's first transfers on shm", per)
	}
	for range 3 {
		roundTrip(a, false)
	}
	if n := contacts(a); n != per {
		t.Fatalf("first contacts went from %d to %d over the same client's later requests", per, n)
	}
	b := cl.Mount(t, clientlib.Options{Provider: "shm", EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff})
	roundTrip(b, false)
	if n := contacts(a); n != 2*per {
		t.Fatalf("%d first contacts after a second client, want %d", n, 2*per)
	}
	b.Close()
	c := cl.Mount(t, clientlib.Options{Provider: "shm", EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff})
	roundTrip(c, false)
	if n := contacts(a); n != 3*per {
		t.Fatalf("%d first contacts after a third client, want %d", n, 3*per)
	}
}
