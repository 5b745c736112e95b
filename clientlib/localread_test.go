package clientlib_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/proto"
)

// serverCounts sums counter name over every server.
func serverCounts(t *testing.T, c *clientlib.Client, name string) int64 {
	t.Helper()
	var n int64
	for id := range c.Servers() {
		st, err := c.ServerStats(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		n += st[name]
	}
	return n
}

// datafileFDs is how many of this process's descriptors are open on
// datafiles of the file with this handle.
func datafileFDs(t *testing.T, handle string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if to, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(to, handle) {
			n++
		}
	}
	return n
}

// TestLocalReads: a client on the servers' host reads the datafiles
// itself, through descriptors the servers pass, and sees what a read
// through the servers would: the bytes, holes as zeros, the end of the
// file, other clients' writes and truncations, ESTALE once the file is
// removed, EACCES for a capability the servers refuse. Closing the file
// closes its descriptors.
func TestLocalReads(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 3})
	key, err := config.ReadKey(cl.Config.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, prov := range []string{"none", "auto"} {
		t.Run(prov, func(t *testing.T) {
			c := cl.Mount(t, clientlib.Options{Provider: prov})
			other := cl.Mount(t, clientlib.Options{Provider: "none", LocalReads: clientlib.LocalReadsOff})
			f, err := c.Create(ctx, "/local-"+prov, clientlib.CreateOptions{StripSize: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 1<<20+1000)
			for i := range want {
				want[i] = byte(rand.Uint32())
			}
			clear(want[200<<10 : 400<<10]) // a hole over all three servers
			if _, err := f.WriteAt(want[:200<<10], 0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(want[400<<10:], 400<<10); err != nil {
				t.Fatal(err)
			}
			reads, passed0 := serverCounts(t, c, "op.read"), serverCounts(t, c, "conn.local_file")
			got := make([]byte, len(want)+4096)
			n, err := f.ReadAt(got, 0)
			if n != len(want) || err != io.EOF || !bytes.Equal(got[:n], want) {
				t.Fatalf("read: %d, %v; equal %v", n, err, bytes.Equal(got[:n], want))
			}
			if passed := serverCounts(t, c, "conn.local_file") - passed0; passed != 3 {
				t.Errorf("servers passed %d descriptors, want one each", passed)
			}
			if r := serverCounts(t, c, "op.read") - reads; r != 0 {
				t.Errorf("%d read requests reached the servers", r)
			}
			if n := datafileFDs(t, f.Handle()); n != 3 {
				t.Errorf("%d datafile descriptors open, want 3", n)
			}
			// A list read: every 5000th byte range of 1000, into pieces
			// of memory of another shape, the last past the end.
			var segs []clientlib.Segment
			for o := int64(0); o < int64(len(want))+3000; o += 5000 {
				segs = append(segs, clientlib.Segment{Off: o, Len: 1000})
			}
			mem := [][]byte{make([]byte, 777), make([]byte, len(segs)*1000-777)}
			vn, err := f.ReadAtv(ctx, mem, segs)
			flat := append(append([]byte(nil), mem[0]...), mem[1]...)
			var wantv []byte
			for _, sg := range segs {
				wantv = append(wantv, want[min(sg.Off, int64(len(want))):min(sg.Off+sg.Len, int64(len(want)))]...)
			}
			if vn != int64(len(wantv)) || (err != nil && err != io.EOF) || !bytes.Equal(flat[:vn], wantv) {
				t.Fatalf("list read: %d of %d, %v; equal %v", vn, len(wantv), err, bytes.Equal(flat[:min(vn, int64(len(flat)))], wantv))
			}
			if r := serverCounts(t, c, "op.read") - reads; r != 0 {
				t.Errorf("%d read requests reached the servers after a list read", r)
			}

			// Another client's write past the end, then its truncation.
			tail := []byte("written by another client")
			g, err := other.Open(ctx, "/local-"+prov)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.WriteAt(tail, int64(len(want))+100); err != nil {
				t.Fatal(err)
			}
			n, err = f.ReadAt(got, 0)
			if n != len(want)+100+len(tail) || err != io.EOF || !bytes.Equal(got[:len(want)], want) ||
				!bytes.Equal(got[len(want):len(want)+100], make([]byte, 100)) || !bytes.Equal(got[len(want)+100:n], tail) {
				t.Fatalf("read after another client's write: %d, %v", n, err)
			}
			if err := g.Truncate(ctx, 300<<10+7); err != nil {
				t.Fatal(err)
			}
			n, err = f.ReadAt(got, 0)
			if n != 300<<10+7 || err != io.EOF || !bytes.Equal(got[:n], want[:n]) {
				t.Fatalf("read after truncation: %d, %v", n, err)
			}

			// A renewed capability keeps the descriptors; one without
			// the read right (a file opened again by name after its
			// capability expired, its mode changed meanwhile) drops them,
			// and the read by request gets the servers' refusal.
			kept := f.Capability()
			resign := func(rights proto.Rights) {
				cp := kept
				cp.Rights = rights
				cp.Expiry = time.Now().Add(proto.CapLifetime).UnixNano()
				cp.MAC = proto.CapMAC(key, f.Handle(), &cp)
				clientlib.SetCapability(f, cp)
			}
			passed := serverCounts(t, c, "conn.local_file")
			resign(kept.Rights)
			if _, err := f.ReadAt(got[:300<<10], 0); err != nil {
				t.Errorf("read with a renewed capability: %v", err)
			}
			if p := serverCounts(t, c, "conn.local_file") - passed; p != 0 {
				t.Errorf("%d descriptors passed again after a renewal", p)
			}
			resign(kept.Rights &^ proto.RightRead)
			if _, err := f.ReadAt(got[:10], 0); !errors.Is(err, syscall.EACCES) {
				t.Errorf("read with a capability without the read right: %v, want EACCES", err)
			}
			if n := datafileFDs(t, f.Handle()); n != 0 {
				t.Errorf("%d datafile descriptors kept under a capability without the read right", n)
			}
			clientlib.SetCapability(f, kept)
			if _, err := f.ReadAt(got[:300<<10], 0); err != nil {
				t.Errorf("read with the capability back: %v", err)
			}
			if p := serverCounts(t, c, "conn.local_file") - passed; p != 3 {
				t.Errorf("%d descriptors passed for the capability back, want 3", p)
			}

			// A second open of the file has descriptors of its own, and
			// its Close closes them.
			h, err := c.Open(ctx, "/local-"+prov)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.ReadAt(got[:300<<10], 0); err != nil {
				t.Fatal(err)
			}
			if n := datafileFDs(t, f.Handle()); n != 6 {
				t.Errorf("%d datafile descriptors open with two opens, want 6", n)
			}
			h.Close()
			if n := datafileFDs(t, f.Handle()); n != 3 {
				t.Errorf("%d datafile descriptors open after one Close, want 3", n)
			}

			// Removed by another client: as through the servers, ESTALE.
			if err := other.Remove(ctx, "/local-"+prov); err != nil {
				t.Fatal(err)
			}
			if _, err := f.ReadAt(got[:10], 0); !errors.Is(err, syscall.ESTALE) {
				t.Errorf("read of a removed file: %v, want ESTALE", err)
			}
			g.Close()
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if n := datafileFDs(t, f.Handle()); n != 0 {
				t.Errorf("%d datafile descriptors open after Close", n)
			}
		})
	}
}

// TestLocalReadsOff: with local reads off, a strategy named, or a server
// whose local_reads is false, reads are requests to the servers, and
// return the same bytes.
func TestLocalReadsOff(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, Edit: func(cfg *config.Config) {
		off := false
		cfg.Servers[1].LocalReads = &off
	}})
	w := cl.Mount(t, clientlib.Options{Provider: "none"})
	f, err := w.Create(ctx, "/off", clientlib.CreateOptions{StripSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB over both servers
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		opts     clientlib.Options
		requests int64 // read requests the servers get for one whole read
		passed   int64 // descriptors passed
	}{
		{"server 1 refuses", clientlib.Options{Provider: "none"}, 1, 1},
		{"off", clientlib.Options{Provider: "none", LocalReads: clientlib.LocalReadsOff}, 2, 0},
		{"strategy sockets", clientlib.Options{Strategy: proto.StrategySockets}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cl.Mount(t, tc.opts)
			reads, passed := serverCounts(t, c, "op.read"), serverCounts(t, c, "conn.local_file")
			g, err := c.Open(ctx, "/off")
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			got := make([]byte, len(want))
			if n, err := g.ReadAt(got, 0); n != len(want) || err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read: %d, %v", n, err)
			}
			if r := serverCounts(t, c, "op.read") - reads; r != tc.requests {
				t.Errorf("%d read requests, want %d", r, tc.requests)
			}
			if p := serverCounts(t, c, "conn.local_file") - passed; p != tc.passed {
				t.Errorf("%d descriptors passed, want %d", p, tc.passed)
			}
		})
	}
}

// TestLocalReadsConcurrent: goroutines reading one file at once, the
// first of them racing for its descriptors, all get the right bytes; a
// Close in the middle of reads fails them as a use after Close, and
// closes every descriptor.
func TestLocalReadsConcurrent(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 3})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	w, err := c.Create(ctx, "/conc", clientlib.CreateOptions{StripSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 3<<20)
	for i := range want {
		want[i] = byte(rand.Uint32())
	}
	if _, err := w.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	f, err := c.Open(ctx, "/conc")
	if err != nil {
		t.Fatal(err)
	}
	read := func(stopOnClose bool) error {
		for i := 0; i < 50; i++ {
			off := rand.Int64N(int64(len(want)))
			buf := make([]byte, 1+rand.IntN(300<<10))
			n, err := f.ReadAt(buf, off)
			if err != nil && err != io.EOF {
				if stopOnClose && closed(err) {
					return nil
				}
				return err
			}
			if !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
				return fmt.Errorf("read of %d at %d: wrong bytes", len(buf), off)
			}
		}
		return nil
	}
	errs := make(chan error, 32)
	for range 16 {
		go func() { errs <- read(false) }()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for range 16 {
		go func() { errs <- read(true) }()
	}
	time.Sleep(time.Millisecond)
	f.Close()
	for range 16 {
		if err := <-errs; err != nil {
			t.Errorf("a read racing Close: %v", err)
		}
	}
	if n := datafileFDs(t, f.Handle()); n != 0 {
		t.Errorf("%d datafile descriptors open after Close", n)
	}
}

// TestLocalReadsSmallFile: a file on fewer servers than its layout names
// (no datafile on the others yet): a read leaves the file's mtime as it
// was, reads the servers without a datafile by request, and sees a
// datafile another client makes there. Client.Close closes the
// descriptors of files still open.
func TestLocalReadsSmallFile(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 3})
	c, err := clientlib.Mount(ctx, cl.ConfigPath, clientlib.Options{Provider: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other := cl.Mount(t, clientlib.Options{Provider: "none", LocalReads: clientlib.LocalReadsOff})
	f, err := c.Create(ctx, "/small", clientlib.CreateOptions{StripSize: 64 << 10, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("first strip"), 0); err != nil {
		t.Fatal(err)
	}
	before, err := f.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	got := make([]byte, 200<<10) // over all three servers
	if n, err := f.ReadAt(got, 0); n != 11 || err != io.EOF || string(got[:n]) != "first strip" {
		t.Fatalf("read: %d %q, %v", n, got[:n], err)
	}
	after, err := f.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a read moved the mtime from %v to %v", before.ModTime(), after.ModTime())
	}
	if n := datafileFDs(t, f.Handle()); n != 1 {
		t.Errorf("%d datafile descriptors, want 1 (the only datafile)", n)
	}

	g, err := other.Open(ctx, "/small")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt([]byte("second"), 64<<10); err != nil {
		t.Fatal(err)
	}
	n, err := f.ReadAt(got, 0)
	if n != 64<<10+6 || err != io.EOF || string(got[64<<10:n]) != "second" || string(got[:11]) != "first strip" {
		t.Fatalf("read after another client wrote to the second server: %d, %v", n, err)
	}
	time.Sleep(1100 * time.Millisecond) // past retryAfter: the client asks again
	if _, err := f.ReadAt(got, 0); err != io.EOF {
		t.Fatal(err)
	}
	if n := datafileFDs(t, f.Handle()); n != 2 {
		t.Errorf("%d datafile descriptors once the second server has one, want 2", n)
	}

	c.Close()
	if n := datafileFDs(t, f.Handle()); n != 0 {
		t.Errorf("%d datafile descriptors after the client closed with the file open", n)
	}
}
