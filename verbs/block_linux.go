//go:build cgo

package verbs

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The owner blocks in ppoll(2) made as a raw system call between the
// runtime's entersyscallblock and exitsyscall, the pair the runtime keeps
// callable for this use (go.dev/issue/67401): the thread gives up its P as
// it blocks. A thread blocked in a cgo call or an ordinary system call
// keeps its P in a syscall state instead, and Go's sysmon then retakes it
// after 10 ms (or at once when no P is idle) and starts ticking every
// 20 µs again, and every system call entered while sysmon sleeps deeply
// starts it again too. Measured with 256 shm client processes waiting on
// servers: sysmon took 21 % of the machine's CPU samples.

//go:linkname entersyscallblock runtime.entersyscallblock
func entersyscallblock()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

// ppollReleasingP waits in ppoll(2) on fds for at most ts, without its P.
//
//go:nosplit
func ppollReleasingP(fds *unix.PollFd, nfds int, ts *unix.Timespec) {
	entersyscallblock()
	syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(fds)), uintptr(nfds), uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	exitsyscall()
}
