package data

import (
	"container/list"
	"os"
	"sync"
	"sync/atomic"
)

// openFiles keeps datafiles open between requests. Opening and closing a
// datafile per request was most of a small read's server time (open, the
// runtime's poller probe, fstat, close: seven system calls around one
// pread). Every datafile is opened O_RDWR and used only positionally
// (pread, pwrite, sendfile with an offset, mmap), so one descriptor
// serves any number of requests at once. At most max unused descriptors
// stay open, least recently used first out.
type openFiles struct {
	mu      sync.Mutex
	entries map[string]*openFile
	idle    *list.List // of *openFile with no user, most recent first
	max     int
	drops   uint64       // drop calls so far: an open that raced one is not cached
	open    atomic.Int64 // descriptors open now, cached or not
}

type openFile struct {
	handle string
	f      *os.File
	users  int
	gone   bool          // dropped while in use: close at the last release
	elem   *list.Element // in idle while users == 0
}

func newOpenFiles(max int) *openFiles {
	return &openFiles{entries: make(map[string]*openFile), idle: list.New(), max: max}
}

// get returns handle's open datafile and the function that ends this use
// of it. open opens the file when it is not cached; a nil file from open
// (no datafile) is returned as is and not cached.
func (c *openFiles) get(handle string, open func() (*os.File, error)) (*os.File, func(), error) {
	c.mu.Lock()
	if e := c.entries[handle]; e != nil {
		c.useLocked(e)
		c.mu.Unlock()
		return e.f, func() { c.release(e) }, nil
	}
	drops := c.drops
	c.mu.Unlock()

	f, err := open()
	if err != nil || f == nil {
		return nil, func() {}, err
	}
	c.open.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[handle]; e != nil {
		// Another request opened it meanwhile: share theirs.
		c.useLocked(e)
		c.closeFile(f)
		return e.f, func() { c.release(e) }, nil
	}
	e := &openFile{handle: handle, f: f, users: 1}
	if c.drops != drops {
		// A remove ran while this open did: f may be the removed file,
		// which later requests must not find.
		e.gone = true
	} else {
		c.entries[handle] = e
	}
	return f, func() { c.release(e) }, nil
}

func (c *openFiles) useLocked(e *openFile) {
	if e.users == 0 && e.elem != nil {
		c.idle.Remove(e.elem)
		e.elem = nil
	}
	e.users++
}

func (c *openFiles) release(e *openFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.users--
	if e.users > 0 {
		return
	}
	if e.gone {
		c.closeFile(e.f)
		return
	}
	e.elem = c.idle.PushFront(e)
	for c.idle.Len() > c.max {
		c.forgetLocked(c.idle.Back().Value.(*openFile))
	}
}

// drop forgets handle's descriptor (its datafile was removed): the next
// request opens the path again. A descriptor in use closes at its last
// release.
func (c *openFiles) drop(handle string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drops++
	if e := c.entries[handle]; e != nil {
		c.forgetLocked(e)
	}
}

// closeAll closes every unused descriptor and forgets the rest (they
// close at their last release).
func (c *openFiles) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		c.forgetLocked(e)
	}
}

// forgetLocked takes e out of the cache: closed now if unused, else at
// its last release.
func (c *openFiles) forgetLocked(e *openFile) {
	delete(c.entries, e.handle)
	if e.users > 0 {
		e.gone = true
		return
	}
	c.idle.Remove(e.elem)
	e.elem = nil
	c.closeFile(e.f)
}

func (c *openFiles) closeFile(f *os.File) {
	f.Close()
	c.open.Add(-1)
}
