// Memory monitor for regcache: a userfaultfd reader that runs as a plain
// POSIX thread and never calls into Go. See doc.go for the design.
#ifndef FERRY_REGCACHE_MONITOR_H
#define FERRY_REGCACHE_MONITOR_H

#include <pthread.h>
#include <stdint.h>

#define FERRY_UFFD_QCAP 4096

enum {
	FERRY_UFFD_KIND_UNMAP = 1,
	FERRY_UFFD_KIND_REMOVE = 2,
	FERRY_UFFD_KIND_REMAP = 3,
};

typedef struct frc_uffd_range {
	uint64_t start, end;
	uint32_t kind, pad;
} frc_uffd_range;

typedef struct frc_uffd_mon {
	// sig is read by Go with an atomic load, without any lock:
	// (number of queued ranges << 1) | (1 if a reader is between
	// read(2) on the uffd and appending what it read to the queue).
	// Zero means: every event whose read has completed is already
	// consumed by Go.
	uint64_t sig;

	int fd;       // the userfaultfd, O_NONBLOCK
	int wakefd;   // eventfd used to stop the thread
	int usermode; // 1 if opened with UFFD_USER_MODE_ONLY
	int via_dev;  // 1 if opened through /dev/userfaultfd
	int started;
	long pagesize;
	pthread_t thread;
	pthread_mutex_t mu; // the monitor's lock; guards everything below

	// counters (under mu)
	uint64_t faults;      // missing faults resolved with UFFDIO_ZEROPAGE
	uint64_t fault_wakes; // faults resolved by UFFDIO_WAKE (page present / vma gone)
	uint64_t fault_errs;  // unexpected ioctl errors while resolving
	uint64_t unmaps, removes, remaps, overflows, unknown;

	// queue of ranges that stopped being the memory they were (under mu)
	uint32_t n;
	int overflow; // queue overflowed: consumer must drop everything
	frc_uffd_range q[FERRY_UFFD_QCAP];

	// snapshot handed to Go by frc_uffd_take; only the single consumer
	// (Go, under the cache mutex) reads it.
	uint32_t nout;
	int outoverflow;
	frc_uffd_range out[FERRY_UFFD_QCAP];
} frc_uffd_mon;

// frc_uffd_open opens the userfaultfd and starts the reader thread.
// mode 0: try the full (kernel-fault-handling) userfaultfd first, then
// UFFD_USER_MODE_ONLY. mode 1: only UFFD_USER_MODE_ONLY. On error returns
// NULL and sets *err to a positive errno and *stage to the failing step
// (1 open, 2 UFFDIO_API, 3 eventfd, 4 pthread_create, 5 mmap).
frc_uffd_mon *frc_uffd_open(int mode, int *err, int *stage);

// frc_uffd_watch registers [start, start+len) (page aligned) in MISSING
// mode. Returns 0 or a positive errno (EINVAL: not anonymous/shmem memory;
// ENOTSUP: the range cannot be resolved with UFFDIO_ZEROPAGE).
int frc_uffd_watch(frc_uffd_mon *m, uint64_t start, uint64_t len);

// frc_uffd_unwatch unregisters [start, start+len); errors (the range is
// gone or was never watched) are ignored.
void frc_uffd_unwatch(frc_uffd_mon *m, uint64_t start, uint64_t len);

// frc_uffd_take moves the queued ranges into m->out (m->nout entries,
// m->outoverflow) under the monitor's lock. If readfd is set it first reads
// every event already in the kernel's queue itself (non-blocking).
// Returns m->nout.
uint32_t frc_uffd_take(frc_uffd_mon *m, int readfd);

// frc_uffd_counters copies the counters under the lock.
void frc_uffd_counters(frc_uffd_mon *m, uint64_t out[8]);

// frc_uffd_close stops the thread, closes the descriptors (which makes
// the kernel drop every registration) and frees the monitor.
void frc_uffd_close(frc_uffd_mon *m);

#endif
