package data

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPopulateRemembers: populate marks the chunks a range covers whole,
// for reading, and for writing too when it faulted them in writable; a
// chunk covered in part stays unmarked, so a later range that needs it
// is populated.
func TestPopulateRemembers(t *testing.T) {
	size := int64(3*populateChunk + populateChunk/2) // the last chunk is short
	f, err := os.Create(filepath.Join(t.TempDir(), "datafile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	m := newMapping("h", data)
	defer m.unmap()
	marked := func(bits []atomic.Uint64, c int64) bool { return bits[c/64].Load()&(1<<(c%64)) != 0 }
	if madviseUnsupported(data) {
		t.Skip("MADV_POPULATE_READ unsupported (Linux < 5.14)")
	}

	// From the middle of chunk 0 to the end of chunk 2: chunks 1 and 2.
	m.populate(populateChunk/2, 5*populateChunk/2, false)
	for c, want := range []bool{false, true, true, false} {
		if got := marked(m.readIn, int64(c)); got != want {
			t.Errorf("after a read populate, chunk %d marked %v, want %v", c, got, want)
		}
		if marked(m.writeIn, int64(c)) {
			t.Errorf("a read populate marked chunk %d for writing", c)
		}
	}
	// The short last chunk, written to its end: marked both ways.
	m.populate(3*populateChunk, populateChunk/2, true)
	if !marked(m.readIn, 3) || !marked(m.writeIn, 3) {
		t.Error("a write populate to the mapping's end did not mark its last chunk")
	}
	// Chunk 0 is still populated when a range needs it.
	m.populate(0, populateChunk, false)
	if !marked(m.readIn, 0) {
		t.Error("chunk 0 not populated when a range covered it whole")
	}
	// What the populates did is right: the pages are the file's.
	data[0], data[size-1] = 7, 9
	var b [1]byte
	if _, err := f.ReadAt(b[:], size-1); err != nil || b[0] != 9 {
		t.Fatalf("the file does not see a store through the mapping: %v %v", b, err)
	}
}

// madviseUnsupported reports whether this kernel refuses
// MADV_POPULATE_READ.
func madviseUnsupported(data []byte) bool {
	return unix.Madvise(data[:pageSize], unix.MADV_POPULATE_READ) == unix.EINVAL
}
