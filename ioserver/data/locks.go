package data

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// fileLocks are read-write locks by name, each kept only while held or
// awaited. Files: they order RMA from a file's mapping against cutting the
// file: a provider that reads a mapped page past the file's end in user
// space (tcp) takes SIGBUS and the server dies. Users of a mapping hold a
// file's lock shared; truncate and remove hold it exclusive. Fabric also
// keys them by client address.
type fileLocks struct {
	mu    sync.Mutex
	locks map[string]*fileLock
}

type fileLock struct {
	sync.RWMutex
	grow  sync.Mutex // see extend
	users int
}

// lock takes handle's lock (any name) and returns its unlock.
func (c *fileLocks) lock(handle string, exclusive bool) func() {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = make(map[string]*fileLock)
	}
	l := c.locks[handle]
	if l == nil {
		l = &fileLock{}
		c.locks[handle] = l
	}
	l.users++
	c.mu.Unlock()
	if exclusive {
		l.Lock()
	} else {
		l.RLock()
	}
	return func() {
		if exclusive {
			l.Unlock()
		} else {
			l.RUnlock()
		}
		c.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(c.locks, handle)
		}
		c.mu.Unlock()
	}
}

// backWrite readies handle's datafile f for a write through its mapping
// of the extents xs, which end at end; the caller holds handle's lock
// shared. It gives each hole the write covers its blocks first: a store
// into a mapped page the file system has no room for is SIGBUS in the
// thread that makes it, which on tcp is the provider's copy inside this
// server, so a full disk killed it; fallocate says ENOSPC instead (blocks
// it took before that stay with the file, unseen past its end on ext4).
// Then it grows the file to end, which the mapping may only cover. Holders
// of the shared lock run side by side, and two that each found the file
// short and truncated it to their own end could shrink it under the
// other's mapping (whose copy then faults: EIO on shm, SIGBUS on tcp), so
// the look and the growth are one step.
func (c *fileLocks) backWrite(handle string, f *os.File, xs []proto.Extent, end int64) error {
	c.mu.Lock()
	l := c.locks[handle]
	c.mu.Unlock()
	l.grow.Lock()
	defer l.grow.Unlock()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	fd := int(f.Fd())
	// One lseek for the whole span in the common case (an overwrite of
	// written data), not one per extent of a list write.
	lo, hi := end, int64(0)
	for _, x := range xs {
		if x.Len > 0 {
			lo, hi = min(lo, x.Local), max(hi, x.Local+x.Len)
		}
	}
	if hi <= fi.Size() && (lo >= hi || !hasHole(fd, lo, hi-lo)) {
		return nil // within the file (end <= hi), no hole: nothing to allocate or grow
	}
	for _, x := range xs {
		if x.Len <= 0 || (x.Local+x.Len <= fi.Size() && !hasHole(fd, x.Local, x.Len)) {
			continue
		}
		if err := unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, x.Local, x.Len); err != nil {
			return fmt.Errorf("allocate %d bytes at %d of datafile %s: %w", x.Len, x.Local, handle, err)
		}
	}
	if fi.Size() < end {
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("extend datafile %s to %d: %w", handle, end, err)
		}
	}
	return nil
}

// hasHole says whether [off, off+n) of the file fd holds a hole, which a
// store through a mapping would have to allocate. Resident, written data
// (the overwrites auto sends this way) has none, and this costs one
// lseek where fallocate would walk every page.
func hasHole(fd int, off, n int64) bool {
	h, err := unix.Seek(fd, off, unix.SEEK_HOLE)
	return err != nil || h < off+n
}
