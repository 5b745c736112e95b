//go:build linux

// Package ctest holds the C helpers of regcache's tests (test files cannot
// use cgo): C heap allocation and touching memory from a C thread with a
// timeout.
package ctest

/*
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>
#include <malloc.h>

struct touch { uintptr_t p; size_t n; int write; uint64_t sum; };

static void *touch_main(void *arg) {
	struct touch *t = arg;
	long pg = sysconf(_SC_PAGESIZE);
	volatile unsigned char *b = (volatile unsigned char *)t->p;
	uint64_t s = 0;
	for (size_t i = 0; i < t->n; i += (size_t)pg) {
		s += b[i];
		if (t->write)
			b[i] = (unsigned char)(b[i] + 1);
	}
	t->sum = s;
	return NULL;
}

// 0: done, 1: timed out (the thread is left behind), <0: error
static int touch_thread(uintptr_t p, size_t n, int write, long timeout_ms, uint64_t *sum) {
	struct touch *t = malloc(sizeof *t);
	if (!t) return -1;
	t->p = p; t->n = n; t->write = write; t->sum = 0;
	pthread_t th;
	if (pthread_create(&th, NULL, touch_main, t)) { free(t); return -2; }
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
	int rc = pthread_timedjoin_np(th, NULL, &ts);
	if (rc == ETIMEDOUT) { pthread_detach(th); return 1; }
	*sum = t->sum;
	free(t);
	return rc ? -3 : 0;
}
*/
import "C"

import (
	"time"
	"unsafe"
)

// Malloc is C malloc.
func Malloc(n int) unsafe.Pointer { return C.malloc(C.size_t(n)) }

// SetMmapThreshold fixes glibc's mmap threshold (disabling its dynamic
// adjustment), so allocations of at least n bytes are always mmap'ed.
func SetMmapThreshold(n int) { C.mallopt(C.M_MMAP_THRESHOLD, C.int(n)) }

// Free is C free.
func Free(p unsafe.Pointer) { C.free(p) }

// Touch reads (and, if write, increments) one byte per page of [p, p+n)
// from a new C thread. ok is false if the thread did not finish within
// timeout (it is then left running). The memory must not move and must stay
// alive until Touch returns.
func Touch(p uintptr, n int, write bool, timeout time.Duration) (sum uint64, ok bool) {
	var s C.uint64_t
	w := C.int(0)
	if write {
		w = 1
	}
	rc := C.touch_thread(C.uintptr_t(p), C.size_t(n), w, C.long(timeout/time.Millisecond), &s)
	return uint64(s), rc == 0
}

// Sbrk is sbrk(2) (C heap break); only for single-threaded use of malloc.
func Sbrk(delta int) uintptr { return uintptr(C.sbrk(C.intptr_t(delta))) }
