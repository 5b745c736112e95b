package itest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/layout"
)

var ctx = context.Background()

// TestRandomIOAgainstReference writes and reads random unaligned ranges
// (0 bytes to several strips) to a Ferry file and a local reference file
// and checks they never differ.
func TestRandomIOAgainstReference(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 64 << 10})
	c := cl.Mount(t, clientlib.Options{MaxRequest: 100 << 10}) // small requests: exercise splitting
	f, err := c.Create(ctx, "/ref.bin", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.Create(filepath.Join(t.TempDir(), "ref"))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	strip := int64(64 << 10)
	for i := 0; i < 60; i++ {
		off := r.Int64N(12 * strip)
		n := r.Int64N(6 * strip)
		if i%10 == 0 {
			n = 0
		}
		buf := make([]byte, n)
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		if w, err := f.WriteAt(buf, off); err != nil || w != len(buf) {
			t.Fatalf("WriteAt(%d, %d) = %d, %v", n, off, w, err)
		}
		ref.WriteAt(buf, off)

		roff := r.Int64N(14 * strip)
		rn := r.Int64N(6 * strip)
		got := make([]byte, rn)
		want := make([]byte, rn)
		gn, gerr := f.ReadAt(got, roff)
		wn, werr := ref.ReadAt(want, roff)
		if gn != wn || (gerr == nil) != (werr == nil) || !bytes.Equal(got[:gn], want[:wn]) {
			t.Fatalf("ReadAt(%d, %d): ferry %d,%v; local %d,%v; equal=%v", rn, roff, gn, gerr, wn, werr, bytes.Equal(got[:gn], want[:wn]))
		}
		if werr != nil && !errors.Is(gerr, io.EOF) {
			t.Fatalf("short read error %v, want io.EOF", gerr)
		}
	}
	st, _ := ref.Stat()
	if size, err := f.Size(ctx); err != nil || size != st.Size() {
		t.Fatalf("size %d, %v; want %d", size, err, st.Size())
	}
}

func TestSparseAndTruncate(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 64 << 10})
	c := cl.Mount(t, clientlib.Options{})
	f, err := c.Create(ctx, "/sparse", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A write far out: everything before it is a hole that reads as zeros,
	// including strips on servers that hold no bytes at all.
	far := int64(10<<20 + 123)
	if _, err := f.WriteAt([]byte("end"), far); err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{0xff}, 1<<20)
	if n, err := f.ReadAt(buf, 64<<10); err != nil || n != len(buf) {
		t.Fatalf("hole read = %d, %v", n, err)
	}
	if !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Fatal("hole did not read as zeros")
	}
	if size, _ := f.Size(ctx); size != far+3 {
		t.Fatalf("size %d, want %d", size, far+3)
	}
	tail := make([]byte, 10)
	n, err := f.ReadAt(tail, far)
	if n != 3 || !errors.Is(err, io.EOF) || string(tail[:3]) != "end" {
		t.Fatalf("tail read = %d %q, %v", n, tail[:n], err)
	}
	if n, err := f.ReadAt(tail, far+100); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read past end = %d, %v", n, err)
	}
	// At or across the largest file size there is no byte: the end, not
	// an invalid range.
	for _, off := range []int64{layout.MaxFileSize - 5, layout.MaxFileSize, math.MaxInt64} {
		if n, err := f.ReadAt(tail, off); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("read at %d = %d, %v; want 0, EOF", off, n, err)
		}
	}
	// Shrink, then grow: the regrown part reads as zeros.
	if err := f.Truncate(ctx, 100<<10); err != nil {
		t.Fatal(err)
	}
	if size, _ := f.Size(ctx); size != 100<<10 {
		t.Fatalf("size after truncate %d", size)
	}
	if err := f.Truncate(ctx, 300<<10); err != nil {
		t.Fatal(err)
	}
	if size, _ := f.Size(ctx); size != 300<<10 {
		t.Fatalf("size after extend %d", size)
	}
	all := make([]byte, 300<<10)
	if n, err := f.ReadAt(all, 0); n != len(all) || err != nil {
		t.Fatalf("read after extend = %d, %v", n, err)
	}
	if !bytes.Equal(all, make([]byte, len(all))) {
		t.Fatal("extended file is not zeros")
	}
}

func TestNamespace(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Mkdir(ctx, "/d", 0o755))
	must(c.Mkdir(ctx, "/d/e", 0o755))
	f, err := c.Create(ctx, "/d/e/f", clientlib.CreateOptions{StripSize: 4096, Count: 1})
	must(err)
	f.WriteAt([]byte("hello"), 0)
	if _, err := c.Create(ctx, "/d/e/f", clientlib.CreateOptions{Exclusive: true}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive create of existing: %v", err)
	}
	if err := c.Mkdir(ctx, "/d", 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("mkdir existing: %v", err)
	}
	if _, err := c.Open(ctx, "/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	if _, err := c.Create(ctx, "/nope/f", clientlib.CreateOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("create in missing dir: %v", err)
	}
	ents, err := c.ReadDir(ctx, "/d/e")
	must(err)
	if len(ents) != 1 || ents[0].Name != "f" || ents[0].IsDir {
		t.Fatalf("readdir = %+v", ents)
	}
	if err := c.Remove(ctx, "/d"); err == nil {
		t.Fatal("removed a non-empty directory")
	}
	// Rename a directory: its contents move along.
	must(c.Rename(ctx, "/d", "/moved"))
	g, err := c.Open(ctx, "/moved/e/f")
	must(err)
	b := make([]byte, 5)
	if n, _ := g.ReadAt(b, 0); n != 5 || string(b) != "hello" {
		t.Fatalf("after rename read %q", b[:n])
	}
	if _, err := c.Stat(ctx, "/d/e/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old path still there: %v", err)
	}
	// Rename over a file replaces it and removes its datafiles.
	h, err := c.Create(ctx, "/other", clientlib.CreateOptions{})
	must(err)
	h.WriteAt([]byte("xx"), 0)
	must(c.Rename(ctx, "/moved/e/f", "/other"))
	fi, err := c.Stat(ctx, "/other")
	must(err)
	if fi.Size() != 5 || fi.Handle() != g.Handle() {
		t.Fatalf("replaced file: size %d handle %s", fi.Size(), fi.Handle())
	}
	if leftover := countDatafiles(t, cl.Dir, h.Handle()); leftover != 0 {
		t.Fatalf("%d datafiles of the replaced file remain", leftover)
	}
	must(c.Remove(ctx, "/other"))
	if n := countDatafiles(t, cl.Dir, g.Handle()); n != 0 {
		t.Fatalf("%d datafiles remain after unlink", n)
	}
	must(c.Remove(ctx, "/moved/e"))
	must(c.Remove(ctx, "/moved"))
	ents, err = c.ReadDir(ctx, "/")
	must(err)
	if len(ents) != 0 {
		t.Fatalf("root not empty: %+v", ents)
	}
}

func countDatafiles(t *testing.T, dir, handle string) int {
	m, err := filepath.Glob(filepath.Join(dir, "server*", "data", handle))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// Several clients write disjoint ranges of one file at once; every byte
// reads back right.
func TestConcurrentClientsDisjoint(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 64 << 10})
	const clients, part = 6, 300<<10 + 17
	c0 := cl.Mount(t, clientlib.Options{})
	if _, err := c0.Create(ctx, "/shared", clientlib.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cl.Mount(t, clientlib.Options{})
			f, err := c.Open(ctx, "/shared")
			if err != nil {
				errs <- err
				return
			}
			buf := bytes.Repeat([]byte{byte(i + 1)}, part)
			for off := 0; off < part; off += 50 << 10 { // many small writes
				end := min(off+50<<10, part)
				if _, err := f.WriteAt(buf[off:end], int64(i*part+off)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f, _ := c0.Open(ctx, "/shared")
	all := make([]byte, clients*part)
	if n, err := f.ReadAt(all, 0); n != len(all) || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	for i := 0; i < clients; i++ {
		for j, b := range all[i*part : (i+1)*part] {
			if b != byte(i+1) {
				t.Fatalf("byte %d of client %d's part is %d", j, i, b)
			}
		}
	}
}
