package data

import (
	"fmt"
	"os"
	"sync"
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

// extend grows handle's datafile f to at least end bytes; the caller holds
// handle's lock. Holders of the shared lock run side by side, and two that
// each found the file short and truncated it to their own end could
// shrink it under the other's mapping (whose copy then faults: EIO on
// shm, SIGBUS on tcp), so the look and the growth are one step.
func (c *fileLocks) extend(handle string, f *os.File, end int64) error {
	c.mu.Lock()
	l := c.locks[handle]
	c.mu.Unlock()
	l.grow.Lock()
	defer l.grow.Unlock()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < end {
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("extend datafile %s to %d: %w", handle, end, err)
		}
	}
	return nil
}
