package clientlib_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/verbs"
)

var ctx = context.Background()

// dataPaths are the ways bytes can move; each list I/O test runs on all.
// Reads are requests to the servers except on "local", where the client
// reads the datafiles itself.
var dataPaths = []struct {
	name string
	opts clientlib.Options
	rdma string // the provider the client must end up on ("" for sockets)
}{
	{"sockets", clientlib.Options{Provider: "none", LocalReads: clientlib.LocalReadsOff}, ""},
	{"shm-rdma", clientlib.Options{Provider: "shm", EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff}, "shm"},
	{"shm-eager", clientlib.Options{Provider: "shm", LocalReads: clientlib.LocalReadsOff}, "shm"},
	{"tcp-rdma", clientlib.Options{Provider: "tcp;ofi_rxm", EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff}, "tcp;ofi_rxm"},
	{"local", clientlib.Options{Provider: "none"}, ""},
}

func needProvider(t *testing.T, provider string) {
	t.Helper()
	if provider == "" {
		return
	}
	ep, err := verbs.Open(verbs.Config{Provider: provider})
	if errors.Is(err, verbs.ErrNotSupported) {
		t.Skipf("provider %s: %v", provider, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ep.Close()
}

// list: sorted, non-overlapping file segments of [0, size) and strided
// pieces of buf with the same total.
func list(rng *rand.Rand, buf []byte, size int64, maxSeg int) ([][]byte, []clientlib.Segment) {
	var segs []clientlib.Segment
	var total int64
	for off := int64(rng.IntN(3000)); off < size; {
		n := min(int64(1+rng.IntN(maxSeg)), size-off)
		segs = append(segs, clientlib.Segment{Off: off, Len: n})
		total += n
		off += n + int64(rng.IntN(5000))
	}
	var mem [][]byte
	at := 0
	for left := total; left > 0; {
		n := min(left, int64(1+rng.IntN(maxSeg)))
		mem = append(mem, buf[at:at+int(n)])
		at += int(n) + rng.IntN(32)
		left -= n
	}
	return mem, segs
}

func opCount(t *testing.T, c *clientlib.Client, op string) []int64 {
	t.Helper()
	var out []int64
	for id := 0; id < 4; id++ {
		st, err := c.ServerStats(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st["op."+op])
	}
	return out
}

// TestListIO: list writes and reads on every data path against a model
// of the file, one request per server per call, holes and the end of
// the file.
func TestListIO(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 64 << 10})
	for i, dp := range dataPaths {
		t.Run(dp.name, func(t *testing.T) {
			needProvider(t, dp.rdma)
			c := cl.Mount(t, dp.opts)
			if dp.rdma != "" && c.DataPath(0) != "rdma:"+dp.rdma {
				t.Fatalf("data path %q, want rdma:%s", c.DataPath(0), dp.rdma)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			f, err := c.Create(ctx, "/listio-"+dp.name, clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			const size = 1 << 20
			model := make([]byte, size)
			for round := 0; round < 4; round++ {
				src := make([]byte, 2*size)
				for j := range src {
					src[j] = byte(rng.Uint32())
				}
				mem, segs := list(rng, src, size, 40000)
				n, err := f.WriteAtv(ctx, mem, segs)
				if err != nil {
					t.Fatal(err)
				}
				stream := bytes.Join(mem, nil)
				if n != int64(len(stream)) {
					t.Fatalf("WriteAtv = %d, want %d", n, len(stream))
				}
				for _, s := range segs {
					copy(model[s.Off:s.Off+s.Len], stream)
					stream = stream[s.Len:]
				}
			}
			end := int64(size)
			for end > 0 && model[end-1] == 0 { // the file ends at the last byte written
				end--
			}
			whole := make([]byte, size)
			if n, err := f.ReadAt(whole, 0); int64(n) != end || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt = %d, %v; want %d", n, err, end)
			}
			if !bytes.Equal(whole[:end], model[:end]) {
				t.Fatal("file differs from the model after list writes")
			}

			// Reads: many small segments, one request per server.
			dst := make([]byte, 2*size)
			mem, segs := list(rng, dst, end, 3000)
			before := opCount(t, c, "read")
			n, err := f.ReadAtv(ctx, mem, segs)
			if err != nil {
				t.Fatal(err)
			}
			after := opCount(t, c, "read")
			for id := range after {
				want := int64(1)
				if dp.opts.LocalReads != clientlib.LocalReadsOff {
					want = 0
				}
				if d := after[id] - before[id]; d != want {
					t.Errorf("server %d served %d read requests for %d segments, want %d", id, d, len(segs), want)
				}
			}
			got := bytes.Join(mem, nil)
			if n != int64(len(got)) {
				t.Fatalf("ReadAtv = %d, want %d", n, len(got))
			}
			var want []byte
			for _, s := range segs {
				want = append(want, model[s.Off:s.Off+s.Len]...)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("ReadAtv returned other bytes than the model")
			}

			// Past the end: the bytes before the first byte at or past the
			// end, io.EOF; a hole below the end reads as zeros.
			g, err := c.Create(ctx, "/listio-eof-"+dp.name, clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.WriteAt(bytes.Repeat([]byte{7}, 100), 300000); err != nil {
				t.Fatal(err)
			}
			a, b := bytes.Repeat([]byte{0xee}, 70000), bytes.Repeat([]byte{0xee}, 200)
			n, err = g.ReadAtv(ctx, [][]byte{a, b}, []clientlib.Segment{{Off: 230000, Len: 70000}, {Off: 300050, Len: 200}})
			if n != 70050 || err != io.EOF {
				t.Fatalf("ReadAtv across the end = %d, %v; want 70050, EOF", n, err)
			}
			if !bytes.Equal(a, make([]byte, 70000)) || !bytes.Equal(b[:50], bytes.Repeat([]byte{7}, 50)) {
				t.Fatal("hole below the end is not zeros, or the data is wrong")
			}
			// An empty segment past the end has no byte there: the
			// bytes after it still count.
			c1, c2 := make([]byte, 10), make([]byte, 10)
			n, err = g.ReadAtv(ctx, [][]byte{c1, c2}, []clientlib.Segment{{Off: 300000, Len: 10}, {Off: 1 << 30, Len: 0}, {Off: 300095, Len: 10}})
			if n != 15 || err != io.EOF {
				t.Fatalf("ReadAtv with an empty segment past the end = %d, %v; want 15, EOF", n, err)
			}

			// Thousands of tiny pieces in one call: each server's request
			// carries more of them than one sendmsg takes (1024).
			h, err := c.Create(ctx, "/listio-tiny-"+dp.name, clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			const pieces, piece, stride = 8000, 28, 44
			tiny := make([]byte, pieces*piece)
			for j := range tiny {
				tiny[j] = byte(rng.Uint32())
			}
			back := make([]byte, len(tiny))
			var wm, rm [][]byte
			var ts []clientlib.Segment
			for k := range pieces {
				wm = append(wm, tiny[k*piece:(k+1)*piece])
				rm = append(rm, back[k*piece:(k+1)*piece])
				ts = append(ts, clientlib.Segment{Off: int64(k * stride), Len: piece})
			}
			if n, err := h.WriteAtv(ctx, wm, ts); n != int64(len(tiny)) || err != nil {
				t.Fatalf("WriteAtv of %d pieces = %d, %v", pieces, n, err)
			}
			if n, err := h.ReadAtv(ctx, rm, ts); n != int64(len(tiny)) || err != nil {
				t.Fatalf("ReadAtv of %d pieces = %d, %v", pieces, n, err)
			}
			if !bytes.Equal(back, tiny) {
				t.Fatal("tiny pieces read back differ")
			}
		})
	}
}

// TestListIOErrors: mismatched lists and bad segments are EINVAL, a
// closed file EBADF; nothing is sent.
func TestListIOErrors(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{})
	f, err := c.Create(ctx, "/listio-err", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := f.WriteAtv(ctx, [][]byte{buf}, []clientlib.Segment{{Off: 0, Len: 11}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("totals differ: %v, want EINVAL", err)
	}
	if _, err := f.ReadAtv(ctx, [][]byte{buf}, []clientlib.Segment{{Off: -4, Len: 10}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("negative offset: %v, want EINVAL", err)
	}
	if n, err := f.ReadAtv(ctx, nil, nil); n != 0 || err != nil {
		t.Errorf("empty lists: %d, %v", n, err)
	}
	f.Close()
	if _, err := f.ReadAtv(ctx, [][]byte{buf}, []clientlib.Segment{{Off: 0, Len: 10}}); !errors.Is(err, syscall.EBADF) {
		t.Errorf("closed file: %v, want EBADF", err)
	}
}
