// userfaultfd reader thread for regcache. This file never calls into Go and
// never allocates while holding m->mu. The monitor's own state lives in a
// private mmap so that it never shares pages with a watched buffer.
#define _GNU_SOURCE
#include "monitor_uffd_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

static int open_uffd(int flags, int *via_dev) {
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);
	if (fd >= 0) {
		*via_dev = 0;
		return fd;
	}
	int e = errno;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		errno = e;
		return -1;
	}
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK | flags);
	e = errno;
	close(dev);
	errno = e;
	if (fd >= 0)
		*via_dev = 1;
	return fd;
}

static int api_handshake(int fd) {
	struct uffdio_api api;
	memset(&api, 0, sizeof api);
	api.api = UFFD_API;
	api.features = UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE |
	               UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_MISSING_SHMEM;
	if (ioctl(fd, UFFDIO_API, &api) == 0)
		return 0;
	return errno;
}

static void push(frc_uffd_mon *m, uint64_t s, uint64_t e, uint32_t kind) {
	if (m->n == FERRY_UFFD_QCAP) {
		if (!m->overflow)
			m->overflows++;
		m->overflow = 1;
		return;
	}
	m->q[m->n].start = s;
	m->q[m->n].end = e;
	m->q[m->n].kind = kind;
	m->n++;
}

// resolve answers a missing fault at once. Returns 1 if it must be retried
// after more events have been read (EAGAIN: the address space is changing
// and the kernel wants the pending non-cooperative events read first).
static int resolve(frc_uffd_mon *m, uint64_t addr) {
	uint64_t page = addr & ~(uint64_t)(m->pagesize - 1);
	struct uffdio_zeropage z;
	memset(&z, 0, sizeof z);
	z.range.start = page;
	z.range.len = (uint64_t)m->pagesize;
	if (ioctl(m->fd, UFFDIO_ZEROPAGE, &z) == 0) {
		m->faults++;
		return 0;
	}
	if (errno == EAGAIN)
		return 1;
	// EEXIST: another thread populated the page; ENOENT/ESRCH/EINVAL:
	// the range went away. Either way wake the faulting thread, which
	// retries the access (and gets SIGSEGV if the memory is really gone).
	if (errno != EEXIST && errno != ENOENT && errno != ESRCH)
		m->fault_errs++;
	struct uffdio_range r = {.start = page, .len = (uint64_t)m->pagesize};
	ioctl(m->fd, UFFDIO_WAKE, &r);
	m->fault_wakes++;
	return 0;
}

#define BATCH 64
#define MAXRETRY 256

// drain_locked reads every event the kernel has queued, resolving faults
// and queuing invalidations. Caller holds m->mu. Reading and queuing happen
// under the same lock hold, so whoever takes the lock after an unmapping
// thread was released (the release happens inside read(2)) finds its range
// in the queue.
static void drain_locked(frc_uffd_mon *m) {
	struct uffd_msg msgs[BATCH];
	uint64_t retry[MAXRETRY];
	int nretry = 0;
	int spins = 0;
	__atomic_store_n(&m->sig, ((uint64_t)m->n << 1) | 1, __ATOMIC_SEQ_CST);
	for (;;) {
		ssize_t r = read(m->fd, msgs, sizeof msgs);
		if (r > 0) {
			int cnt = (int)(r / (ssize_t)sizeof(struct uffd_msg));
			for (int i = 0; i < cnt; i++) {
				struct uffd_msg *g = &msgs[i];
				switch (g->event) {
				case UFFD_EVENT_PAGEFAULT:
					if (resolve(m, g->arg.pagefault.address)) {
						if (nretry < MAXRETRY)
							retry[nretry++] = g->arg.pagefault.address;
						else
							resolve(m, g->arg.pagefault.address); // best effort
					}
					break;
				case UFFD_EVENT_UNMAP:
					m->unmaps++;
					push(m, g->arg.remove.start, g->arg.remove.end, FERRY_UFFD_KIND_UNMAP);
					break;
				case UFFD_EVENT_REMOVE:
					m->removes++;
					push(m, g->arg.remove.start, g->arg.remove.end, FERRY_UFFD_KIND_REMOVE);
					break;
				case UFFD_EVENT_REMAP:
					m->remaps++;
					push(m, g->arg.remap.from, g->arg.remap.from + g->arg.remap.len, FERRY_UFFD_KIND_REMAP);
					push(m, g->arg.remap.to, g->arg.remap.to + g->arg.remap.len, FERRY_UFFD_KIND_REMAP);
					break;
				default:
					m->unknown++;
					break;
				}
			}
			continue;
		}
		// Nothing more to read (EAGAIN) or an error: retry deferred faults.
		if (nretry == 0)
			break;
		int k = 0;
		for (int i = 0; i < nretry; i++)
			if (resolve(m, retry[i]))
				retry[k++] = retry[i];
		nretry = k;
		if (nretry == 0)
			break;
		// The unmapping thread has not yet been scheduled to finish; let it.
		if (++spins > 64)
			sched_yield();
	}
	__atomic_store_n(&m->sig, (uint64_t)m->n << 1, __ATOMIC_SEQ_CST);
}

static void *thread_main(void *arg) {
	frc_uffd_mon *m = arg;
	struct pollfd p[2];
	for (;;) {
		p[0].fd = m->fd;
		p[0].events = POLLIN;
		p[0].revents = 0;
		p[1].fd = m->wakefd;
		p[1].events = POLLIN;
		p[1].revents = 0;
		int r = poll(p, 2, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			// Should not happen; avoid a hot loop but keep serving.
			usleep(1000);
			continue;
		}
		if (p[1].revents)
			break;
		// Never stop serving on our own: an unread UNMAP/REMOVE/REMAP
		// event blocks the unmapping thread for good.
		if ((p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) && !(p[0].revents & POLLIN)) {
			usleep(1000);
			continue;
		}
		if (p[0].revents & POLLIN) {
			pthread_mutex_lock(&m->mu);
			drain_locked(m);
			pthread_mutex_unlock(&m->mu);
		}
	}
	return NULL;
}

frc_uffd_mon *frc_uffd_open(int mode, int *err, int *stage) {
	*err = 0;
	*stage = 0;
	void *mem = mmap(NULL, sizeof(frc_uffd_mon), PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		*err = errno;
		*stage = 5;
		return NULL;
	}
	frc_uffd_mon *m = mem;
	memset(m, 0, sizeof *m);
	m->pagesize = sysconf(_SC_PAGESIZE);
	m->fd = -1;
	m->wakefd = -1;
	pthread_mutex_init(&m->mu, NULL);

	int fd = -1, via = 0, e = 0;
	if (mode == 0) {
		fd = open_uffd(0, &via);
		if (fd >= 0) {
			e = api_handshake(fd);
			if (e) {
				close(fd);
				fd = -1;
			}
		} else {
			e = errno;
		}
	}
	if (fd < 0) {
		fd = open_uffd(UFFD_USER_MODE_ONLY, &via);
		if (fd < 0) {
			*err = errno ? errno : e;
			*stage = 1;
			goto fail;
		}
		m->usermode = 1;
		e = api_handshake(fd);
		if (e) {
			close(fd);
			*err = e;
			*stage = 2;
			goto fail;
		}
	}
	m->fd = fd;
	m->via_dev = via;
	m->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->wakefd < 0) {
		*err = errno;
		*stage = 3;
		goto fail;
	}
	// The thread blocks every signal (it inherits the mask), so
	// process-directed signals go to Go's threads and poll(2) is never
	// interrupted.
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	e = pthread_create(&m->thread, NULL, thread_main, m);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (e) {
		*err = e;
		*stage = 4;
		goto fail;
	}
	m->started = 1;
	return m;
fail:
	if (m->fd >= 0)
		close(m->fd);
	if (m->wakefd >= 0)
		close(m->wakefd);
	pthread_mutex_destroy(&m->mu);
	munmap(m, sizeof *m);
	return NULL;
}

int frc_uffd_watch(frc_uffd_mon *m, uint64_t start, uint64_t len) {
	struct uffdio_register reg;
	for (int tries = 0;; tries++) {
		memset(&reg, 0, sizeof reg);
		reg.range.start = start;
		reg.range.len = len;
		reg.mode = UFFDIO_REGISTER_MODE_MISSING;
		if (ioctl(m->fd, UFFDIO_REGISTER, &reg) == 0)
			break;
		if (errno == EAGAIN && tries < 100) {
			sched_yield();
			continue;
		}
		return errno;
	}
	if (!(reg.ioctls & ((uint64_t)1 << _UFFDIO_ZEROPAGE)) ||
	    !(reg.ioctls & ((uint64_t)1 << _UFFDIO_WAKE))) {
		// We could not answer a fault there: undo. (A range already
		// watched stays watched only if it could be answered, so this
		// only unregisters memory this call registered.)
		struct uffdio_range r = {.start = start, .len = len};
		ioctl(m->fd, UFFDIO_UNREGISTER, &r);
		return ENOTSUP;
	}
	return 0;
}

void frc_uffd_unwatch(frc_uffd_mon *m, uint64_t start, uint64_t len) {
	struct uffdio_range r = {.start = start, .len = len};
	for (int tries = 0; tries < 100; tries++) {
		if (ioctl(m->fd, UFFDIO_UNREGISTER, &r) == 0 || errno != EAGAIN)
			return;
		sched_yield();
	}
}

uint32_t frc_uffd_take(frc_uffd_mon *m, int readfd) {
	pthread_mutex_lock(&m->mu);
	if (readfd)
		drain_locked(m);
	m->nout = m->n;
	m->outoverflow = m->overflow;
	if (m->n)
		memcpy(m->out, m->q, (size_t)m->n * sizeof m->q[0]);
	m->n = 0;
	m->overflow = 0;
	__atomic_store_n(&m->sig, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&m->mu);
	return m->nout;
}

void frc_uffd_counters(frc_uffd_mon *m, uint64_t out[8]) {
	pthread_mutex_lock(&m->mu);
	out[0] = m->faults;
	out[1] = m->fault_wakes;
	out[2] = m->fault_errs;
	out[3] = m->unmaps;
	out[4] = m->removes;
	out[5] = m->remaps;
	out[6] = m->overflows;
	out[7] = m->unknown;
	pthread_mutex_unlock(&m->mu);
}

void frc_uffd_close(frc_uffd_mon *m) {
	if (!m)
		return;
	uint64_t one = 1;
	if (m->started) {
		if (write(m->wakefd, &one, sizeof one) < 0) {
			// eventfd write cannot fail with a value of 1 here
		}
		pthread_join(m->thread, NULL);
	}
	// Anything still unread is discarded by close(2), which also releases
	// blocked unmappers and drops every registration.
	close(m->fd);
	close(m->wakefd);
	pthread_mutex_destroy(&m->mu);
	munmap(m, sizeof *m);
}
