package regcache

import (
	"cmp"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/verbs"
)

// Registrar registers memory; *verbs.Endpoint satisfies it.
type Registrar interface {
	Register(p unsafe.Pointer, n int, acc verbs.Access) (*verbs.MemoryRegion, error)
}

// ErrClosed is returned by Acquire on a closed cache.
var ErrClosed = errors.New("regcache: cache closed")

// Options configure a Cache. The zero value is usable: limits of zero take
// the defaults.
type Options struct {
	// Disabled turns caching off: every Acquire registers and every last
	// Release deregisters.
	Disabled bool
	// MaxEntries bounds the number of unreferenced cached registrations
	// (default 1024). Entries in use are never evicted.
	MaxEntries int
	// MaxBytes bounds the bytes of unreferenced cached registrations
	// (default 1 GiB).
	MaxBytes int64
	// FastSync makes the hit path skip reading the userfaultfd itself and
	// rely on the monitor thread (plus a lock-free check of its queue).
	// Invalidation is still guaranteed for every munmap/madvise/mremap that
	// has returned before Acquire starts; what is lost is the window in
	// which another thread's munmap has not returned yet but its address
	// range was already handed out again. See doc.go.
	FastSync bool
	// UserModeOnly opens userfaultfd with UFFD_USER_MODE_ONLY only. Such a
	// monitor cannot answer faults taken by the kernel on behalf of the
	// process (read(2) into, or process_vm_writev to, a watched page that
	// was dropped), which then fail with EFAULT. By default the cache
	// tries a full userfaultfd first and falls back to this mode.
	UserModeOnly bool
	// SmallPages leaves the page size of registered memory alone. By
	// default a miss first asks the kernel to back the whole huge pages
	// inside its range with transparent huge pages (madvise
	// MADV_HUGEPAGE), where the kernel offers them: pages not touched yet
	// then come 2 MiB at a time when the range is populated, and an RMA
	// into or out of them costs the peer one page walk per huge page
	// instead of one per 4 KiB (see adviseHuge).
	SmallPages bool
	// Logf receives one line when the monitor cannot be started; nil
	// means log.Printf.
	Logf func(format string, args ...any)
}

// Defaults for Options.
const (
	DefaultMaxEntries = 1024
	DefaultMaxBytes   = 1 << 30
)

// Mode is how a cache runs, as configs, flags and the client's
// environment name it: ParseMode is the one reader of those names.
type Mode int

const (
	ModeOn   Mode = iota // cache, and sync with the monitor strictly (the default)
	ModeOff              // Disabled: register per Acquire
	ModeFast             // cache with FastSync
)

var modeNames = map[string]Mode{
	"on": ModeOn, "strict": ModeOn, "1": ModeOn, "true": ModeOn, "yes": ModeOn,
	"off": ModeOff, "disabled": ModeOff, "0": ModeOff, "false": ModeOff, "no": ModeOff,
	"fast": ModeFast,
}

// ParseMode reads a mode name: on (or strict), off, fast; "" is on. An
// unknown name is an error that lists the valid ones.
func ParseMode(s string) (Mode, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ModeOn, nil
	}
	if m, ok := modeNames[s]; ok {
		return m, nil
	}
	return ModeOn, fmt.Errorf("regcache: unknown mode %q (valid: on, off, fast)", s)
}

func (m Mode) String() string {
	switch m {
	case ModeOff:
		return "off"
	case ModeFast:
		return "fast"
	}
	return "on"
}

// Apply returns o with the Disabled and FastSync the mode means.
func (m Mode) Apply(o Options) Options {
	o.Disabled = m == ModeOff
	o.FastSync = m == ModeFast
	return o
}

// Stats is a snapshot of a cache's counters.
type Stats struct {
	Enabled bool   // caching is on (not Disabled and the monitor runs)
	Monitor string // "userfaultfd", "userfaultfd(user-mode-only)", "disabled", "unavailable: <reason>", "closed"
	Sync    string // "strict" or "fast"

	Hits          uint64 // Acquire satisfied by a cached registration
	Misses        uint64 // Acquire that registered
	Registrations uint64 // registrations made (misses, uncached, disabled)
	RegisterFails uint64 // registrations the Registrar refused
	Evictions     uint64 // unreferenced entries deregistered by the LRU bounds or Flush
	Invalidations uint64 // entries dropped because their memory changed
	Replaced      uint64 // entries superseded by a larger merged registration
	Uncached      uint64 // registrations not cached: memory the monitor cannot watch, or changed while registering
	Unwatched     uint64 // ranges no cached entry needs any more, handed back (UFFDIO_UNREGISTER)

	Entries     int   // entries in the index (referenced or not)
	LRUEntries  int   // unreferenced cached entries
	LRUBytes    int64 // their bytes
	LiveEntries int   // registrations currently open (cached, in use, or awaiting their last Release)
	LiveBytes   int64 // their bytes

	// Monitor counters.
	Events         uint64 // UNMAP + REMOVE + REMAP events read
	Unmaps         uint64
	Removes        uint64
	Remaps         uint64
	FaultsResolved uint64 // missing-page faults answered with UFFDIO_ZEROPAGE
	FaultWakes     uint64 // faults answered by a wake (page already present or range gone)
	FaultErrors    uint64 // unexpected errors while answering faults
	Overflows      uint64 // monitor queue overflows (each drops the whole cache)
}

// entry is one registration. Its tree and LRU links are intrusive.
type entry struct {
	start, end uintptr // page aligned
	acc        verbs.Access
	mr         *verbs.MemoryRegion
	base       unsafe.Pointer // == mr.Base(); keeps Go memory reachable (see doc.go)
	refs       int32
	cached     bool // in the index (or was, until invalidated/replaced)
	inIndex    bool
	onLRU      bool

	left, right *entry // index
	prio        uint32
	prev, next  *entry // LRU, most recent at c.lru.next
}

func (e *entry) size() int64 { return int64(e.end - e.start) }

// Handle is one reference to a registration covering an Acquire'd range.
// Each successful Acquire must be matched by exactly one Release; a Handle
// must not be used after its Release.
type Handle struct {
	c   *Cache
	e   *entry
	off uint64
}

// MR is the registration covering the range.
func (h *Handle) MR() *verbs.MemoryRegion { return h.e.mr }

// Offset is the offset of the Acquire'd pointer inside MR(), so the range
// is MR().Remote(h.Offset(), n) for a peer.
func (h *Handle) Offset() uint64 { return h.off }

// Remote is MR().Remote(Offset(), n).
func (h *Handle) Remote(n uint64) (verbs.RemoteBuffer, error) { return h.e.mr.Remote(h.off, n) }

// Release drops the reference. The registration stays cached (if it still
// describes live memory) until evicted or invalidated.
func (h *Handle) Release() { h.c.release(h) }

// Revoke deregisters the handle's registration now and releases the
// handle: a peer still holding the key can no longer reach the memory
// (where the provider checks keys), which is what a caller that gave up
// on a peer needs before it lets the memory go. Other handles on the same
// registration lose remote access too; theirs is deregistered again (a
// no-op) at their Release.
func (h *Handle) Revoke() error {
	c := h.c
	c.mu.Lock()
	e := h.e
	if e == nil {
		c.mu.Unlock()
		panic("regcache: Revoke of a released Handle")
	}
	if e.inIndex {
		c.idx.remove(e)
		e.inIndex = false
		c.unwatch = append(c.unwatch, invRange{e.start, e.end})
	}
	c.unlockAndReap()
	err := e.mr.Close()
	h.Release()
	return err
}

type invRange struct{ a, b uintptr }

const invLogSize = 64

// Cache is a registration cache over one Registrar (a verbs domain).
type Cache struct {
	reg      Registrar
	opt      Options
	pageMask uintptr
	hugeSize uintptr      // transparent huge page size; 0: none to ask for
	advised  atomic.Int32 // ranges adviseHuge advised
	mon      *uffdMonitor
	monState string
	caching  bool

	mu     sync.Mutex
	closed bool
	idx    index
	lru    entry // sentinel of a circular list
	lruN   int
	lruB   int64
	free   []*Handle
	dead   []*entry // entries to deregister once c.mu is released
	ovBuf  []*entry
	invSeq uint64
	invLog [invLogSize]invRange
	invFn  func(a, b uintptr)
	st     Stats

	inflight sync.WaitGroup // misses using mon outside c.mu; Close waits

	// Watches are dropped when no cached entry needs them any more, so
	// that UFFDIO_REGISTER's VMA splits do not pile up (the kernel allows
	// vm.max_map_count mappings per process).
	pending []invRange // ranges watched by misses in flight
	unwatch []invRange // ranges whose entries left the index
	covBuf  []invRange
}

// New makes a cache over r. If the memory monitor cannot be started the
// cache logs why, reports it in Stats().Monitor, and runs without caching
// (every Acquire registers, every last Release deregisters): a cache that
// cannot see memory go away must not keep registrations.
func New(r Registrar, opt Options) (*Cache, error) {
	if r == nil {
		return nil, errors.New("regcache: nil Registrar")
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	c := &Cache{reg: r, opt: opt, pageMask: uintptr(os.Getpagesize() - 1)}
	if !opt.SmallPages {
		c.hugeSize = thpSize()
	}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	c.invFn = c.invalidateLocked
	switch {
	case opt.Disabled:
		c.monState = "disabled"
	default:
		m, err := openMonitor(opt.UserModeOnly)
		if err != nil {
			c.monState = "unavailable: " + err.Error()
			logf := opt.Logf
			if logf == nil {
				logf = log.Printf
			}
			logf("regcache: %v; running without caching", err)
		} else {
			c.mon = m
			c.monState = m.mode
			c.caching = true
		}
	}
	return c, nil
}

// Acquire returns a handle on a registration covering [p, p+n) with at
// least the access acc, registering on a miss.
func (c *Cache) Acquire(p unsafe.Pointer, n int, acc verbs.Access) (*Handle, error) {
	if p == nil || n <= 0 {
		return nil, fmt.Errorf("regcache: acquire: bad buffer %p len %d", p, n)
	}
	if acc == 0 {
		return nil, errors.New("regcache: acquire: no access requested")
	}
	addr := uintptr(p)
	start := addr &^ c.pageMask
	end := addr + uintptr(n)
	if end < addr || end+c.pageMask < end {
		return nil, fmt.Errorf("regcache: acquire: range %#x+%d wraps", addr, n)
	}
	end = (end + c.pageMask) &^ c.pageMask
	if !c.caching {
		return c.oneShot(p, start, end, acc)
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.syncLocked(!c.opt.FastSync)
	if e := c.idx.floor(start); e != nil && e.end >= end && e.acc&acc == acc {
		if e.refs == 0 {
			c.lruRemove(e)
		}
		e.refs++
		c.st.Hits++
		h := c.handleLocked(e, uint64(addr-e.start))
		c.unlockAndReap()
		return h, nil
	}
	c.st.Misses++
	// Register the union with every overlapping entry so the index stays
	// disjoint; the overlapped entries are replaced once this is inserted.
	rs, re, racc := start, end, acc
	c.ovBuf = c.idx.overlapping(start, end, c.ovBuf[:0])
	var rbase unsafe.Pointer = p
	for _, o := range c.ovBuf {
		if o.start < rs {
			rs, rbase = o.start, o.base
		}
		re = max(re, o.end)
		racc |= o.acc
	}
	seq := c.invSeq
	mon := c.mon
	c.inflight.Add(1)
	c.pending = append(c.pending, invRange{rs, re})
	c.unlockAndReap()

	// Watch, then register, outside every lock. Watching first means no
	// change to the memory after this point can go unseen.
	pr0, pr1 := rs, re
	c.adviseHuge(rs, re-rs)
	populate(rs, re-rs)
	err := mon.watch(rs, re-rs)
	if err != nil && (rs != start || re != end) {
		// The union failed; try the request alone.
		rs, re, racc, rbase = start, end, acc, p
		err = mon.watch(rs, re-rs)
	}
	c.inflight.Done()
	if err != nil {
		// Not memory the monitor can watch (a file mapping, hugetlbfs,
		// ...): use it once, never cache it.
		c.mu.Lock()
		c.st.Uncached++
		c.dropPendingLocked(pr0, pr1, false)
		c.unlockAndReap()
		return c.oneShot(p, start, end, acc)
	}
	if rbase == p {
		rbase = pageBase(p, start)
	}
	mr, err := c.reg.Register(rbase, int(re-rs), racc)
	if err != nil {
		c.mu.Lock()
		c.st.RegisterFails++
		c.dropPendingLocked(pr0, pr1, true)
		c.unlockAndReap()
		return nil, fmt.Errorf("regcache: register %#x+%d: %w", rs, re-rs, err)
	}
	e := &entry{start: rs, end: re, acc: racc, mr: mr, base: rbase, refs: 1}

	c.mu.Lock()
	c.st.Registrations++
	c.st.LiveEntries++
	c.st.LiveBytes += e.size()
	// Changes whose munmap/madvise has returned are in the queue; one still
	// in progress is concurrent with this Acquire, and the next strict
	// Acquire reads it and drops the entry inserted here.
	c.syncLocked(false)
	if c.closed || c.changedSince(seq, rs, re) {
		// The memory changed while we registered: hand this registration
		// out once, never cache it.
		c.st.Uncached++
		c.dropPendingLocked(pr0, pr1, true)
	} else {
		c.dropPendingLocked(pr0, pr1, false)
		c.ovBuf = c.idx.overlapping(rs, re, c.ovBuf[:0])
		for _, o := range c.ovBuf {
			c.detachLocked(o)
			c.st.Replaced++
		}
		e.cached = true
		e.inIndex = true
		c.idx.insert(e)
	}
	h := c.handleLocked(e, uint64(addr-rs))
	c.unlockAndReap()
	return h, nil
}

// AcquireBytes is Acquire over a byte slice.
func (c *Cache) AcquireBytes(b []byte, acc verbs.Access) (*Handle, error) {
	if len(b) == 0 {
		return nil, errors.New("regcache: acquire: empty buffer")
	}
	return c.Acquire(unsafe.Pointer(&b[0]), len(b), acc)
}

// pageBase returns p moved down to start (its page). The pointer is built
// by reinterpretation rather than arithmetic: start may lie before the Go
// object p points to (still inside the same span, which the pointer then
// keeps in use), and checkptr would reject arithmetic leaving the object.
func pageBase(p unsafe.Pointer, start uintptr) unsafe.Pointer {
	if uintptr(p) == start {
		return p
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(&start))
}

// oneShot registers without caching; the registration is closed on Release.
func (c *Cache) oneShot(p unsafe.Pointer, start, end uintptr, acc verbs.Access) (*Handle, error) {
	base := pageBase(p, start)
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	mr, err := c.reg.Register(base, int(end-start), acc)
	c.mu.Lock()
	if err != nil {
		c.st.RegisterFails++
		c.mu.Unlock()
		return nil, fmt.Errorf("regcache: register %#x+%d: %w", start, end-start, err)
	}
	c.st.Registrations++
	c.st.LiveEntries++
	c.st.LiveBytes += int64(end - start)
	e := &entry{start: start, end: end, acc: acc, mr: mr, base: base, refs: 1}
	h := c.handleLocked(e, uint64(uintptr(p)-start))
	c.mu.Unlock()
	return h, nil
}

func (c *Cache) handleLocked(e *entry, off uint64) *Handle {
	var h *Handle
	if n := len(c.free); n > 0 {
		h = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		h = &Handle{c: c}
	}
	h.e, h.off = e, off
	return h
}

func (c *Cache) release(h *Handle) {
	c.mu.Lock()
	e := h.e
	if e == nil {
		c.mu.Unlock()
		panic("regcache: Release of a released Handle")
	}
	h.e = nil
	if len(c.free) < 4096 {
		c.free = append(c.free, h)
	}
	e.refs--
	if e.refs > 0 {
		c.mu.Unlock()
		return
	}
	if !e.inIndex || c.closed {
		// Uncached, invalidated or replaced while in use: its last
		// reference is gone, deregister.
		c.dead = append(c.dead, e)
		c.unlockAndReap()
		return
	}
	c.lruPush(e)
	for c.lruN > c.opt.MaxEntries || c.lruB > c.opt.MaxBytes {
		v := c.lru.prev
		c.evictLocked(v)
	}
	c.unlockAndReap()
}

// syncLocked consumes the monitor's queue and invalidates what it names.
// With readFD it first reads the userfaultfd itself (strict mode), else it
// only looks at the queue, and only if the shared word says it is not empty.
func (c *Cache) syncLocked(readFD bool) {
	if c.mon == nil {
		return
	}
	if !readFD && !c.mon.pending() {
		return
	}
	if c.mon.take(readFD, c.invFn) {
		// Ranges were lost: everything may be stale.
		c.invalidateLocked(0, ^uintptr(0))
	}
}

// invalidateLocked drops every entry overlapping [a, b).
func (c *Cache) invalidateLocked(a, b uintptr) {
	c.invSeq++
	c.invLog[c.invSeq%invLogSize] = invRange{a, b}
	c.ovBuf = c.idx.overlapping(a, b, c.ovBuf[:0])
	for _, e := range c.ovBuf {
		c.detachLocked(e)
		c.st.Invalidations++
	}
}

// changedSince reports whether an invalidation since seq may have touched
// [a, b).
func (c *Cache) changedSince(seq uint64, a, b uintptr) bool {
	if c.invSeq-seq >= invLogSize {
		return c.invSeq != seq
	}
	for s := seq + 1; s <= c.invSeq; s++ {
		r := c.invLog[s%invLogSize]
		if r.a < b && a < r.b {
			return true
		}
	}
	return false
}

// detachLocked takes e out of the index; it is deregistered now if unused,
// else at its last Release.
func (c *Cache) detachLocked(e *entry) {
	c.idx.remove(e)
	e.inIndex = false
	c.unwatch = append(c.unwatch, invRange{e.start, e.end})
	if e.refs == 0 {
		c.lruRemove(e)
		c.dead = append(c.dead, e)
	}
}

func (c *Cache) evictLocked(v *entry) {
	c.lruRemove(v)
	c.idx.remove(v)
	v.inIndex = false
	c.unwatch = append(c.unwatch, invRange{v.start, v.end})
	c.dead = append(c.dead, v)
	c.st.Evictions++
}

// dropPendingLocked forgets the in-flight watch [a, b); unwatch makes its
// range a candidate for unwatching (the miss did not insert an entry).
func (c *Cache) dropPendingLocked(a, b uintptr, unwatch bool) {
	for i, r := range c.pending {
		if r.a == a && r.b == b {
			c.pending[i] = c.pending[len(c.pending)-1]
			c.pending = c.pending[:len(c.pending)-1]
			break
		}
	}
	if unwatch {
		c.unwatch = append(c.unwatch, invRange{a, b})
	}
}

// unwatchLocked stops watching the candidate ranges, except the parts a
// cached entry or an in-flight miss still needs. It runs under c.mu (not
// the monitor's lock) so that no miss can watch a range between the check
// and UFFDIO_UNREGISTER.
func (c *Cache) unwatchLocked() {
	if c.mon == nil || c.closed {
		c.unwatch = c.unwatch[:0]
		return
	}
	for _, u := range c.unwatch {
		cov := c.covBuf[:0]
		c.ovBuf = c.idx.overlapping(u.a, u.b, c.ovBuf[:0])
		for _, e := range c.ovBuf {
			cov = append(cov, invRange{e.start, e.end})
		}
		for _, r := range c.pending {
			if r.a < u.b && u.a < r.b {
				cov = append(cov, r)
			}
		}
		slices.SortFunc(cov, func(x, y invRange) int { return cmp.Compare(x.a, y.a) })
		at := u.a
		for _, r := range cov {
			if r.a > at {
				c.mon.unwatch(at, min(r.a, u.b)-at)
			}
			at = max(at, r.b)
			if at >= u.b {
				break
			}
		}
		if at < u.b {
			c.mon.unwatch(at, u.b-at)
		}
		c.st.Unwatched++
		c.covBuf = cov
	}
	c.unwatch = c.unwatch[:0]
}

// unlockAndReap releases c.mu and then deregisters the dead entries.
func (c *Cache) unlockAndReap() {
	if len(c.unwatch) > 0 {
		c.unwatchLocked()
	}
	if len(c.dead) == 0 {
		c.mu.Unlock()
		return
	}
	dead := c.dead
	c.dead = nil
	c.mu.Unlock()
	var bytes int64
	for _, e := range dead {
		_ = e.mr.Close()
		bytes += e.size()
	}
	c.mu.Lock()
	c.st.LiveEntries -= len(dead)
	c.st.LiveBytes -= bytes
	c.mu.Unlock()
}

func (c *Cache) lruPush(e *entry) {
	e.prev = &c.lru
	e.next = c.lru.next
	e.next.prev = e
	c.lru.next = e
	e.onLRU = true
	c.lruN++
	c.lruB += e.size()
}

func (c *Cache) lruRemove(e *entry) {
	if !e.onLRU {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	e.onLRU = false
	c.lruN--
	c.lruB -= e.size()
}

// Flush deregisters every unreferenced cached registration.
func (c *Cache) Flush() {
	c.mu.Lock()
	for c.lru.prev != &c.lru {
		v := c.lru.prev
		c.evictLocked(v)
	}
	c.unlockAndReap()
}

// Close deregisters every unreferenced registration and stops the monitor.
// Registrations still in use are deregistered at their last Release.
// Acquire after Close returns ErrClosed.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var all []*entry
	c.idx.each(func(e *entry) { all = append(all, e) })
	for _, e := range all {
		c.detachLocked(e)
	}
	mon := c.mon
	c.mon = nil
	c.monState = "closed"
	c.unlockAndReap()
	c.inflight.Wait()
	if mon != nil {
		mon.close()
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := c.st
	s.Enabled = c.caching && !c.closed
	s.Monitor = c.monState
	s.Sync = "strict"
	if c.opt.FastSync {
		s.Sync = "fast"
	}
	s.Entries = c.idx.len()
	s.LRUEntries = c.lruN
	s.LRUBytes = c.lruB
	mon := c.mon
	if mon != nil {
		m := mon.counters()
		s.Unmaps, s.Removes, s.Remaps = m.Unmaps, m.Removes, m.Remaps
		s.Events = m.Unmaps + m.Removes + m.Remaps
		s.FaultsResolved, s.FaultWakes, s.FaultErrors, s.Overflows = m.Faults, m.FaultWakes, m.FaultErrs, m.Overflows
	}
	c.mu.Unlock()
	return s
}

// maxAdvised bounds the ranges one cache advises: each advice can split a
// mapping in three, and the kernel allows vm.max_map_count (65530 by
// default) mappings per process.
const maxAdvised = 4096

// adviseHuge asks the kernel to back the whole huge pages inside
// [addr, addr+n) with transparent huge pages (MADV_HUGEPAGE) before
// populate faults the range in. Pages already there stay as they are
// (their bytes too); untouched ones then come as huge pages. Why: shm's
// RMA is the peer's process_vm_readv/writev, which pins our pages one
// page-table walk per page each time; with the buffer in huge pages a
// 256 MiB read from 4 local servers ran 20-35 % faster with a fifth to a
// quarter less server CPU, and a first read into a fresh buffer, with
// populate's threads, 2.8-5.5 GB/s instead of 1.4-1.8
// (BenchmarkHugePages in bench, bench/results/2026-12-07h). NICs'
// registrations gain the same way (fewer translations). The advice stays
// on the memory after its registration goes, as an application's own
// madvise would; khugepaged fills no holes in ranges the monitor watches
// (it does not collapse a userfaultfd-armed range with missing pages).
// Best effort: errors are ignored.
func (c *Cache) adviseHuge(addr, n uintptr) {
	h := c.hugeSize
	if h == 0 {
		return
	}
	s, e := (addr+h-1)&^(h-1), (addr+n)&^(h-1)
	if e <= s || c.advised.Add(1) > maxAdvised {
		return
	}
	syscall.Syscall(syscall.SYS_MADVISE, s, e-s, unix.MADV_HUGEPAGE)
}

// thpSize is the transparent huge page size the kernel offers to memory
// that asks for it, 0 where it offers none (THP off or "never", or no
// THP support).
func thpSize() uintptr {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(b), "[never]") {
		return 0
	}
	b, err = os.ReadFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n == 0 || n&(n-1) != 0 {
		return 0
	}
	return uintptr(n)
}

// populate faults the pages of [addr, addr+n) in before the range is
// watched, as a NIC driver's pinning does at registration. Untouched pages
// of a watched range would otherwise each raise a missing-page fault that
// the monitor thread must answer during the transfer (one context switch
// per 4 KiB page: `ferry cp` reads into a fresh buffer over shm measured
// 29-40 MB/s, and 1.1-1.3 GB/s with pages populated). A range of
// 2·populatePiece or more is populated in pieces on up to
// maxPopulateThreads threads at once: faulting in fresh memory is mostly
// the kernel clearing pages, which the CPUs can share (a first read of
// 256 MiB from 4 local servers into a fresh buffer in huge pages,
// BenchmarkHugePages: 2.2-5.3 GB/s on one thread, 5.5-5.8 on two; in
// 4 KiB pages 1.5-1.8 and 2.1-2.3). Best effort: a range that
// cannot be populated is still correct, only slower.
func populate(addr, n uintptr) {
	k := min(uintptr(runtime.GOMAXPROCS(0)), maxPopulateThreads, n/populatePiece)
	if k < 2 {
		populateOne(addr, n)
		return
	}
	step := (n/k + populatePiece - 1) &^ (populatePiece - 1)
	var wg sync.WaitGroup
	for a := addr; a < addr+n; a += step {
		wg.Add(1)
		go func(a, m uintptr) {
			defer wg.Done()
			populateOne(a, m)
		}(a, min(step, addr+n-a))
	}
	wg.Wait()
}

// populatePiece and maxPopulateThreads shape populate's split.
const (
	populatePiece      = 32 << 20
	maxPopulateThreads = 8
)

func populateOne(addr, n uintptr) {
	const madvPopulateRead, madvPopulateWrite = 22, 23 // Linux 5.14+
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, n, madvPopulateWrite); e != 0 {
		syscall.Syscall(syscall.SYS_MADVISE, addr, n, madvPopulateRead)
	}
}
