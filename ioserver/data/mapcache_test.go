package data

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
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

// TestUnmapClean: a write range whose pages were written back (fdatasync)
// has our page-table entries dropped, and its chunks unmarked, so the
// next populate maps them in writable; the bytes stay the file's. A range
// whose pages are all dirty keeps its entries.
func TestUnmapClean(t *testing.T) {
	size := int64(4 * populateChunk)
	f := writeBackFile(t, size)
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	m := newMapping("h", data)
	defer m.unmap()
	if madviseUnsupported(data) {
		t.Skip("MADV_POPULATE_READ unsupported (Linux < 5.14)")
	}
	present := func(off int64) bool { return pageMapped(t, data, off) }
	m.populate(0, size, true)
	for i := range size / populateChunk {
		data[i*populateChunk] = byte(i + 1) // dirty, through the mapping
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	data[3*populateChunk+1] = 9 // chunk 3's first page dirty again
	if !present(populateChunk) || !present(3*populateChunk) {
		t.Fatal("populated pages not mapped")
	}

	m.unmapClean(f, populateChunk, populateChunk) // chunk 1: clean
	if present(populateChunk) || present(2*populateChunk-pageSize) {
		t.Fatal("a written-back range still mapped after unmapClean")
	}
	if m.writeIn[0].Load()&(1<<1) != 0 || m.readIn[0].Load()&(1<<1) != 0 {
		t.Fatal("a written-back range still marked populated after unmapClean")
	}
	m.unmapClean(f, 3*populateChunk, pageSize) // chunk 3's dirty page
	if !present(3 * populateChunk) {
		t.Fatal("a dirty page unmapped by unmapClean")
	}
	var b [1]byte
	for i := range size / populateChunk {
		if data[i*populateChunk] != byte(i+1) {
			t.Fatalf("chunk %d reads %d through the mapping after unmapClean, want %d", i, data[i*populateChunk], i+1)
		}
		if _, err := f.ReadAt(b[:], i*populateChunk); err != nil || b[0] != byte(i+1) {
			t.Fatalf("chunk %d of the file holds %d (%v), want %d", i, b[0], err, i+1)
		}
	}
	m.populate(populateChunk, populateChunk, true)
	if !present(populateChunk) {
		t.Fatal("populate did not map the range unmapClean dropped")
	}
}

// writeBackFile is a datafile of size zero bytes, written (its pages
// dirty), closed when the test ends; it skips the test where cachestat(2)
// is missing (Linux before 6.5) or the file system never writes pages
// back (tmpfs).
func writeBackFile(t *testing.T, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "datafile"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if _, ok := pageCache(f, 0, size); !ok {
		t.Skip("cachestat(2) unavailable (Linux before 6.5)")
	}
	var fs unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs never writes its pages back")
	}
	return f
}

// pageMapped says whether our page table maps the page of data at off
// (bit 63 of its /proc/self/pagemap entry).
func pageMapped(t *testing.T, data []byte, off int64) bool {
	t.Helper()
	pagemap, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Skipf("pagemap: %v", err)
	}
	defer pagemap.Close()
	var e [8]byte
	va := uintptr(unsafe.Pointer(&data[off]))
	if _, err := pagemap.ReadAt(e[:], int64(va/uintptr(pageSize))*8); err != nil {
		t.Fatal(err)
	}
	return e[7]&0x80 != 0
}

// TestUnmapCleanCached: before auto's pipeline write over pages written
// back, the cached mapping of the datafile drops its entries over the
// write's ranges, so that the next write, by sendfile, maps them in anew;
// with no mapping cached it does nothing.
func TestUnmapCleanCached(t *testing.T) {
	size := int64(2 * populateChunk)
	f := writeBackFile(t, size)
	e := &env{maps: newMapCache(4)}
	j := &job{req: &proto.IOReq{Handle: "h", Extents: []proto.Extent{{Local: populateChunk, Len: populateChunk}}}, file: f}
	unmapCleanCached(e, j) // nothing cached: nothing to do

	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	m := newMapping("h", data)
	e.maps.mu.Lock()
	m.elem = e.maps.lru.PushFront(m)
	e.maps.entries["h"] = m
	e.maps.mu.Unlock()
	defer e.maps.close()
	if madviseUnsupported(data) {
		t.Skip("MADV_POPULATE_READ unsupported (Linux < 5.14)")
	}
	m.populate(0, size, true)
	data[0], data[populateChunk] = 1, 2
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	unmapCleanCached(e, j)
	if pageMapped(t, data, populateChunk) {
		t.Fatal("the write's range still mapped")
	}
	if data[populateChunk] != 2 {
		t.Fatalf("the range reads %d after it was unmapped, want 2", data[populateChunk])
	}
	e.maps.mu.Lock()
	refs := m.refs
	e.maps.mu.Unlock()
	if refs != 0 {
		t.Fatalf("the mapping holds %d references after unmapCleanCached, want 0", refs)
	}
}
