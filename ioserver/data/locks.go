package data

import "sync"

// fileLocks order RMA from a file's mapping against cutting the file: a
// provider that reads a mapped page past the file's end in user space
// (tcp) takes SIGBUS and the server dies. Users of a mapping hold a
// file's lock shared; truncate and remove hold it exclusive.
type fileLocks struct {
	mu    sync.Mutex
	locks map[string]*fileLock
}

type fileLock struct {
	sync.RWMutex
	users int
}

// lock takes handle's lock and returns its unlock.
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
