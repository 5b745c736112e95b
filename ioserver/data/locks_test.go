package data

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// Requests that extend one datafile side by side leave it as long as the
// longest asked for: none shrinks it under another.
func TestExtendNeverShrinks(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "df"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var locks fileLocks
	for round := range 20 {
		var wg sync.WaitGroup
		var top int64
		for i := range 32 {
			end := int64(round*32+i+1) * 4096
			if i%2 == 1 {
				end = int64(round*32+32-i) * 4096 // some ask for less than others already got
			}
			top = max(top, end)
			wg.Go(func() {
				unlock := locks.lock("h", false)
				defer unlock()
				x := []proto.Extent{{Local: end - 4096, Len: 4096}}
				if err := locks.backWrite("h", f, x, end); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() < top {
			t.Fatalf("round %d: datafile is %d bytes, a request extended it to %d", round, fi.Size(), top)
		}
	}
}

// backWrite gives the holes a write covers their blocks, past the end and
// inside the file, and leaves written data alone.
func TestBackWriteFillsHoles(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "df"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if _, err := f.WriteAt(make([]byte, 64<<10), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if hasHole(fd, 0, 64<<10) {
		t.Fatal("written data reported as a hole")
	}
	if !hasHole(fd, 0, 128<<10) || !hasHole(fd, 512<<10, 4096) {
		if _, err := unix.Seek(fd, 0, unix.SEEK_HOLE); err == nil {
			t.Skip("this file system reports no holes (SEEK_HOLE at the end)")
		}
		t.Fatal("a hole not reported")
	}
	blocks := func() int64 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	before := blocks()
	var locks fileLocks
	unlock := locks.lock("h", false)
	defer unlock()
	x := []proto.Extent{{Local: 512 << 10, Len: 4096}, {Local: 2 << 20, Len: 8192}}
	if err := locks.backWrite("h", f, x, 2<<20+8192); err != nil {
		t.Fatal(err)
	}
	// Allocated blocks: ext4 still reports them as a hole (unwritten).
	if got := blocks() - before; got != 4096+8192 {
		t.Errorf("backWrite allocated %d bytes, want %d", got, 4096+8192)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 2<<20+8192 {
		t.Fatalf("size %v, %v; want %d", fi.Size(), err, 2<<20+8192)
	}
	// Written data needs nothing: the same call again allocates nothing.
	if _, err := f.WriteAt(make([]byte, 4096), 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	before = blocks()
	if err := locks.backWrite("h", f, []proto.Extent{{Local: 0, Len: 64 << 10}, {Local: 3 << 20, Len: 4096}}, 3<<20+4096); err != nil {
		t.Fatal(err)
	}
	if got := blocks() - before; got != 0 {
		t.Errorf("backWrite over written data allocated %d bytes", got)
	}
}
