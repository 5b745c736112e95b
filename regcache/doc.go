// Package regcache caches memory registrations of a verbs domain so that
// I/O on the same application buffers does not pay for registration (page
// pinning and NIC translation setup on real fabrics) every time, without
// ever handing out a registration of memory that is no longer there.
//
// # Use
//
//	c, _ := regcache.New(ep, regcache.Options{})
//	h, err := c.Acquire(p, n, verbs.AccessRemoteWrite)
//	rb, err := h.MR().Remote(h.Offset(), uint64(n)) // or h.Remote(uint64(n))
//	... let the peer write rb ...
//	h.Release()
//
// Each successful Acquire is matched by exactly one Release; a Handle must
// not be used after it.
//
// # Entries and the index
//
// A request is rounded out to page boundaries, so buffers that share pages
// share an entry. The index is a treap ordered by start address whose
// entries never overlap: a miss that overlaps existing entries registers the
// union of them with the request (and the union of their access rights), and
// the overlapped entries are replaced (taken out of the index; deregistered
// now if unused, else at their last Release). A hit is the entry with the
// greatest start not above the request's start, if it reaches the request's
// end and has every access bit asked for. Entries in use are pinned by their
// reference count; unreferenced entries sit on an LRU list bounded by
// Options.MaxEntries and Options.MaxBytes, and eviction deregisters. Hits do
// not allocate (handles are recycled under the cache mutex).
//
// # Populating a miss
//
// Before a miss watches its range it faults the pages in
// (MADV_POPULATE_WRITE, on several threads for a large range), as a NIC
// driver's pinning would, and before that asks for transparent huge pages
// over the whole huge pages inside the range (MADV_HUGEPAGE, unless
// Options.SmallPages): untouched pages then come 2 MiB at a time, and a
// peer's RMA walks one page-table entry per huge page. Pages already
// touched keep their size and bytes.
//
// # The memory monitor
//
// Invalidation uses userfaultfd, as libfabric's default monitor does. Every
// cached range is registered with the userfaultfd (UFFDIO_REGISTER, MISSING
// mode) before it is registered with the fabric, with the features
// UFFD_FEATURE_EVENT_UNMAP (munmap, brk shrink, mremap shrinking or
// replacing a mapping), UFFD_FEATURE_EVENT_REMOVE (madvise DONTNEED/REMOVE,
// including the Go runtime and glibc returning memory to the OS) and
// UFFD_FEATURE_EVENT_REMAP (mremap moving memory).
//
// Each UFFDIO_REGISTER of part of a mapping splits it, and a process may
// only have vm.max_map_count mappings (65530 by default; running out makes
// even the Go runtime's own mmap fail). So when an entry leaves the index
// (evicted, invalidated, replaced, or a miss that did not insert), the cache
// hands its range back with UFFDIO_UNREGISTER, minus every part still
// covered by a cached entry or by a miss in flight (entries in the index
// never overlap, and pages shared by neighbouring buffers belong to one
// entry, so this is exact). That check and the unregistration happen under
// the cache mutex, so no miss can watch the range in between. Entries that
// are only still in use (not in the index) need no watch: they are never
// handed out again. Unregistering wakes any thread faulting in the range,
// which then takes an ordinary fault.
//
// The reader is a plain pthread written in C (monitor_uffd_linux.c) that
// never calls into Go. This matters: watched Go heap pages that the runtime
// returned to the OS report missing-page faults when they are touched again,
// possibly by a Go thread while the garbage collector has stopped the world.
// The thread answers each fault at once with UFFDIO_ZEROPAGE (exactly what
// the kernel would have done for anonymous memory), so a faulting thread
// never waits on Go. Its state lives in a private mmap, so it never shares a
// page with watched memory, and it never allocates while holding its lock.
//
// # Ordering: why an Acquire never sees a stale entry
//
// For UNMAP, REMOVE and REMAP the kernel blocks the thread that unmaps until
// the event has been read from the userfaultfd. Whoever reads (the monitor
// thread, or an Acquire) does so with the monitor's C mutex held, and appends
// the ranges to a queue before releasing it; the reader also raises a flag
// in a shared word before read(2) and clears it after appending. Acquire,
// before looking anything up, takes the cache mutex, then the monitor's
// mutex, reads whatever the kernel still has queued itself (non-blocking),
// takes the queue, releases the monitor's mutex, and then drops every
// overlapping entry in Go (deregistration happens after the cache mutex is
// released too). Hence:
//
//   - once munmap/madvise/mremap has returned in any thread, its event has
//     been read, so it is in the queue (or being appended, which Acquire
//     waits for on the mutex), and the next Acquire drops the entries;
//   - even while an unmapping thread is still blocked, its event is in the
//     kernel's queue, and Acquire reads it itself: an address range cannot
//     be mapped again and acquired through a stale entry in that window.
//
// That strict mode costs one read(2) per Acquire (on this VM a system call
// is about 1 µs). Options.FastSync (mode fast) replaces it with an
// atomic load of the shared word: the first guarantee above still holds
// (the flag is raised before read(2) releases the unmapping thread), the
// second is left to the monitor thread's latency.
//
// A miss watches, then registers, without holding any lock, and records the
// invalidation sequence number first; if an invalidation overlapping its
// range arrived meanwhile, the new registration is handed out once and never
// cached. A queue overflow (4096 unread ranges) drops the whole cache. An
// entry invalidated while in use leaves the index at once and is
// deregistered when its last reference goes.
//
// # Memory the monitor cannot watch
//
// UFFDIO_REGISTER only accepts anonymous and shmem mappings. A range it
// refuses (a file mapping, hugetlbfs, device memory) is registered for that
// Acquire only and deregistered on Release (Stats.Uncached). If userfaultfd
// cannot be opened at all, New logs why, Stats.Monitor says
// "unavailable: ...", and the cache registers on every Acquire and
// deregisters on every last Release: without a monitor it cannot know when
// memory goes away, so it keeps nothing.
//
// # Opening userfaultfd
//
// The cache first tries a full userfaultfd (the syscall without flags, then
// /dev/userfaultfd with USERFAULTFD_IOC_NEW), and falls back to
// UFFD_USER_MODE_ONLY, which unprivileged processes can always get. A
// user-mode-only userfaultfd is not told about faults the kernel takes on the
// process's behalf; on a watched page that was dropped those fail with
// EFAULT instead of being zero-filled (measured: read(2) from a pipe into
// such a page returns EFAULT; TestUserModeOnlyKernelFault). Since the kernel
// touches application buffers all the time (read(2), process_vm_writev from
// the shm provider of a peer), the full mode is preferred where it is
// permitted (root, CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1, or access
// to /dev/userfaultfd); Stats.Monitor tells which one runs, and
// Options.UserModeOnly forces the restricted one.
//
// # Go memory
//
// Go buffers can be acquired. An entry keeps an unsafe.Pointer to the start
// of its first page, which is inside the same span as the buffer, so the
// span (and, for a large object, the buffer) stays allocated while the entry
// is cached: such an entry never points at memory the runtime reused for
// something else, and the garbage collector never meets a pointer into a
// freed span. Pages the runtime returns to the OS raise REMOVE events like
// any other DONTNEED. Limitations: memory released with MADV_FREE raises no
// event (the mapping and its addresses stay valid, only the contents may
// become zero); fork children do not inherit the watch.
//
// # Switching it off
//
// Options.Disabled (mode off) makes every Acquire register and every last
// Release deregister.
package regcache
