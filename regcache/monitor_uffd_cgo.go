//go:build linux && cgo

package regcache

/*
#cgo CFLAGS: -O2 -Wall
#cgo LDFLAGS: -lpthread
#include <stdlib.h>
#include "monitor_uffd_linux.h"
*/
import "C"

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// uffdMonitor is the Go face of the C monitor (monitor_uffd_linux.c).
// All of its state lives in C memory; the reader is a pthread that never
// calls into Go, so a Go thread faulting on watched memory while the world
// is stopped is still answered.
type uffdMonitor struct {
	m    *C.frc_uffd_mon
	sig  *uint64
	mode string
}

var uffdStages = [...]string{"", "open userfaultfd", "UFFDIO_API", "eventfd", "pthread_create", "mmap"}

// openMonitor opens the userfaultfd. userModeOnly restricts it to
// UFFD_USER_MODE_ONLY (see doc.go for why that is not the default).
func openMonitor(userModeOnly bool) (*uffdMonitor, error) {
	var cerr, stage C.int
	mode := C.int(0)
	if userModeOnly {
		mode = 1
	}
	m := C.frc_uffd_open(mode, &cerr, &stage)
	if m == nil {
		st := "?"
		if int(stage) < len(uffdStages) {
			st = uffdStages[stage]
		}
		return nil, fmt.Errorf("regcache: memory monitor: %s: %w", st, syscall.Errno(cerr))
	}
	u := &uffdMonitor{m: m, sig: (*uint64)(unsafe.Pointer(&m.sig))}
	u.mode = "userfaultfd"
	if m.usermode != 0 {
		u.mode = "userfaultfd(user-mode-only)"
	}
	if m.via_dev != 0 {
		u.mode += " via /dev/userfaultfd"
	}
	return u, nil
}

// watch starts watching [start, start+n) (page aligned).
func (u *uffdMonitor) watch(start, n uintptr) error {
	if e := C.frc_uffd_watch(u.m, C.uint64_t(start), C.uint64_t(n)); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// unwatch stops watching [start, start+n).
func (u *uffdMonitor) unwatch(start, n uintptr) {
	C.frc_uffd_unwatch(u.m, C.uint64_t(start), C.uint64_t(n))
}

// pending reports whether an event may have been read that Go has not yet
// consumed. A false answer is authoritative for every munmap/madvise/mremap
// that has already returned (see doc.go).
func (u *uffdMonitor) pending() bool { return atomic.LoadUint64(u.sig) != 0 }

// take consumes the queued ranges, calling fn for each; readFD makes it read
// the kernel's queue itself first. overflow means ranges were lost and the
// caller must assume everything changed. Callers serialize take (the cache
// mutex); fn runs after the monitor's lock has been released.
func (u *uffdMonitor) take(readFD bool, fn func(start, end uintptr)) (overflow bool) {
	rd := C.int(0)
	if readFD {
		rd = 1
	}
	n := int(C.frc_uffd_take(u.m, rd))
	out := unsafe.Slice(&u.m.out[0], n)
	for i := range out {
		fn(uintptr(out[i].start), uintptr(out[i].end))
	}
	return u.m.outoverflow != 0
}

type monCounters struct {
	Faults, FaultWakes, FaultErrs, Unmaps, Removes, Remaps, Overflows, Unknown uint64
}

func (u *uffdMonitor) counters() monCounters {
	var c [8]C.uint64_t
	C.frc_uffd_counters(u.m, &c[0])
	return monCounters{uint64(c[0]), uint64(c[1]), uint64(c[2]), uint64(c[3]), uint64(c[4]), uint64(c[5]), uint64(c[6]), uint64(c[7])}
}

func (u *uffdMonitor) close() {
	if u.m != nil {
		C.frc_uffd_close(u.m)
		u.m = nil
	}
}
