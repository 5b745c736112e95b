package data

import (
	"container/list"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/verbs"
)

// mapCache holds datafile mappings registered with the fabric, for the
// sendfile strategy: the fabric moves bytes straight from (or into) the
// page cache. Mappings are MAP_SHARED read-write because real NICs refuse
// to register read-only file mappings. An entry is dropped when its file is
// truncated or removed, and replaced when a request reaches past its end;
// a dropped entry is unmapped when its last user is done.
type mapCache struct {
	mu      sync.Mutex
	entries map[string]*mapping
	lru     *list.List // of *mapping, unreferenced and referenced alike
	max     int
	unmaps  sync.WaitGroup // unmaps of dropped mappings still running
}

type mapping struct {
	handle string
	data   []byte
	mrs    map[*verbs.Endpoint]*verbs.MemoryRegion
	refs   int
	stale  bool
	elem   *list.Element
	// readIn and writeIn mark the populateChunk chunks of data that
	// populate faulted in for reading and for writing, one bit each.
	readIn, writeIn []atomic.Uint64
}

func newMapCache(max int) *mapCache {
	return &mapCache{entries: make(map[string]*mapping), lru: list.New(), max: max}
}

var pageSize = int64(os.Getpagesize())

func roundUp(n int64) int64 { return (n + pageSize - 1) / pageSize * pageSize }

// get returns a mapping of handle's datafile f covering [0, need) and its
// registration on ep. need must not pass the file's end (reads clamp to
// it; writes extend the file first), or touching the tail would fault.
func (c *mapCache) get(handle string, f *os.File, need int64, ep *verbs.Endpoint) (*mapping, *verbs.MemoryRegion, error) {
	c.mu.Lock()
	m := c.entries[handle]
	if m != nil && int64(len(m.data)) < need {
		c.dropLocked(m)
		m = nil
	}
	if m == nil {
		c.mu.Unlock()
		// Map outside the lock: mmap of a large file is not instant.
		st, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		size := roundUp(max(need, st.Size()))
		data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, nil, fmt.Errorf("mmap datafile %s (%d bytes): %w", handle, size, err)
		}
		c.mu.Lock()
		if old := c.entries[handle]; old != nil {
			c.dropLocked(old)
		}
		m = newMapping(handle, data)
		m.elem = c.lru.PushFront(m)
		c.entries[handle] = m
		c.trimLocked()
	} else {
		c.lru.MoveToFront(m.elem)
	}
	m.refs++
	mr := m.mrs[ep]
	c.mu.Unlock()
	if mr == nil {
		var err error
		mr, err = register(ep, m.data)
		if err != nil {
			c.release(m)
			return nil, nil, fmt.Errorf("register mapping of %s: %w", handle, err)
		}
		c.mu.Lock()
		if old := m.mrs[ep]; old != nil { // registered twice by racing requests
			deregister(mr)
			mr = old
		} else {
			m.mrs[ep] = mr
		}
		c.mu.Unlock()
	}
	return m, mr, nil
}

// cached returns handle's mapping if one is cached, referenced (release
// it), without mapping or registering anything.
func (c *mapCache) cached(handle string) *mapping {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.entries[handle]
	if m != nil {
		m.refs++
	}
	return m
}

func (c *mapCache) release(m *mapping) {
	c.mu.Lock()
	m.refs--
	free := m.refs == 0 && m.stale
	c.mu.Unlock()
	if free {
		m.unmap()
	}
}

// invalidate drops handle's mapping (truncate, remove). One no request
// uses is unmapped before it returns: the mapping holds the file, and a
// removed file's space must be free once its removal is answered (a
// write right after found the disk still full).
func (c *mapCache) invalidate(handle string) {
	c.mu.Lock()
	m := c.entries[handle]
	now := m != nil && c.detachLocked(m)
	c.mu.Unlock()
	if now {
		m.unmap()
	}
}

// dropLocked removes m from the cache; it is unmapped now if unused, else
// by its last release.
func (c *mapCache) dropLocked(m *mapping) {
	if c.detachLocked(m) {
		c.unmaps.Go(m.unmap) // never under the lock: deregistration may block
	}
}

// detachLocked takes m out of the cache and reports whether nothing uses
// it, so the caller unmaps it (outside the lock); otherwise its last
// release does.
func (c *mapCache) detachLocked(m *mapping) bool {
	if m.stale {
		return false
	}
	m.stale = true
	delete(c.entries, m.handle)
	c.lru.Remove(m.elem)
	return m.refs == 0
}

func (c *mapCache) trimLocked() {
	for c.lru.Len() > c.max {
		m := c.lru.Back().Value.(*mapping)
		c.dropLocked(m)
	}
}

func (m *mapping) unmap() {
	for _, mr := range m.mrs {
		deregister(mr)
	}
	unix.Munmap(m.data)
}

// close drops every mapping and unmaps it before returning, so the
// fabrics they are registered on can close next. No request may be
// running.
func (c *mapCache) close() {
	c.mu.Lock()
	var all []*mapping
	for _, m := range c.entries {
		m.stale = true
		all = append(all, m)
	}
	clear(c.entries)
	c.lru.Init()
	c.mu.Unlock()
	for _, m := range all {
		m.unmap()
	}
	c.unmaps.Wait()
}

// resident reports whether every page of [off, off+n) of the mapping is in
// the page cache (mincore).
func (m *mapping) resident(off, n int64) bool {
	if n <= 0 {
		return true
	}
	start := off / pageSize * pageSize
	end := min(roundUp(off+n), int64(len(m.data)))
	vec := make([]byte, (end-start+pageSize-1)/pageSize)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m.data[start])), uintptr(end-start),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return false
	}
	for _, v := range vec {
		if v&1 == 0 {
			return false
		}
	}
	return true
}

func newMapping(handle string, data []byte) *mapping {
	words := (int64(len(data))/populateChunk + 64) / 64
	return &mapping{handle: handle, data: data, mrs: make(map[*verbs.Endpoint]*verbs.MemoryRegion),
		readIn: make([]atomic.Uint64, words), writeIn: make([]atomic.Uint64, words)}
}

// unmapClean drops our page-table entries for [off, off+n) when some of
// its pages are clean (written back since their last write, as after an
// fsync; cachestat), so that populate maps them in again for writing.
// Writeback leaves a clean page read-only in every mapping of it, and the
// fabric's copy into the range then took a write fault per 4 KiB page,
// holding the client's lane lock meanwhile: 256 MiB over 4 local servers
// went at 0.9-1.1 GB/s (bench/results/2026-12-07g). Mapped in anew, a
// large folio takes one fault. The pages stay in the page cache, and
// dirty ones stay dirty.
func (m *mapping) unmapClean(f *os.File, off, n int64) {
	start := off / pageSize * pageSize
	end := min(roundUp(off+n), int64(len(m.data)))
	if start >= end {
		return
	}
	if st, ok := pageCache(f, start, end-start); !ok || st.Cache <= st.Dirty {
		return // no clean page cached (or no cachestat, Linux before 6.5)
	}
	if unix.Madvise(m.data[start:end], unix.MADV_DONTNEED) != nil {
		return
	}
	for c := start / populateChunk; c <= (end-1)/populateChunk; c++ {
		m.readIn[c/64].And(^(uint64(1) << (c % 64)))
		m.writeIn[c/64].And(^(uint64(1) << (c % 64)))
	}
}

// populateChunk is the grain at which a mapping remembers what populate
// faulted in.
const populateChunk = 1 << 20

// populate faults [off, off+n) of the mapping in (MADV_POPULATE_READ, or
// _WRITE for ranges the fabric writes into; Linux 5.14 and later), unless
// an earlier call did for every chunk the range touches: the advice walks
// every page even where all are mapped already, which was 8.5 % of a
// server's CPU in repeated reads of a warm file. What it remembers is a
// hint: pages the kernel reclaimed since are faulted in again by the
// fabric's copy, one at a time. Best effort: an older kernel leaves the
// faults to the copy.
func (m *mapping) populate(off, n int64, write bool) {
	start := off / pageSize * pageSize
	end := min(roundUp(off+n), int64(len(m.data)))
	if start >= end {
		return
	}
	done := m.readIn
	advice := unix.MADV_POPULATE_READ
	if write {
		done, advice = m.writeIn, unix.MADV_POPULATE_WRITE
	}
	first, last := start/populateChunk, (end-1)/populateChunk
	in := true
	for c := first; c <= last && in; c++ {
		in = done[c/64].Load()&(1<<(c%64)) != 0
	}
	if in {
		return
	}
	if unix.Madvise(m.data[start:end], advice) != nil {
		return
	}
	// Mark the chunks the range covered whole (the mapping's last chunk
	// ends where the mapping does).
	for c := first; c <= last; c++ {
		lo, hi := c*populateChunk, min((c+1)*populateChunk, int64(len(m.data)))
		if lo < start || hi > end {
			continue
		}
		m.readIn[c/64].Or(1 << (c % 64))
		if write {
			m.writeIn[c/64].Or(1 << (c % 64))
		}
	}
}
