// Package rawio makes the system calls of a small request's round trip
// (socket reads and writes that do not block, a read of cached file
// pages, fstat) without the Go scheduler's system-call bookkeeping, and
// polls a socket briefly for a reply that is about to come.
//
// Why: a 4 KiB read is a few microseconds of kernel work, but each
// syscall.Syscall made by a process that was idle wakes the runtime's
// monitor thread (sysmon), which then runs and sleeps many times over.
// Profiles of a server doing 4 KiB reads one at a time put 16 % of its
// CPU in sysmon. A raw system call that cannot block needs none of it: a
// socket in the poller is non-blocking (a read or write that would block
// returns EAGAIN and the caller waits in the poller as before), and a
// file read with RWF_NOWAIT returns EAGAIN instead of waiting for the
// disk. Spin, for its part, saves the sleep and wake-up of a thread
// waiting in the poller when the bytes are due within microseconds.
package rawio

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn reads and writes a socket by raw system calls, waiting in the
// network poller (and so honouring the connection's deadlines) only when
// the socket has nothing to read or no room to write.
type Conn struct {
	rc syscall.RawConn
}

// New wraps c, or returns nil when c exposes no file descriptor.
func New(c any) *Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &Conn{rc: rc}
}

// Read reads into p, waiting for the socket to become readable if it is
// not; 0 bytes and no error is never returned for a non-empty p.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		n, errno = int(r), e
		return e != syscall.EAGAIN && e != syscall.EINTR
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Writev writes every byte of bufs, waiting for room when the socket has
// none. A peer that is gone gives EPIPE, never SIGPIPE (MSG_NOSIGNAL):
// the client library runs inside programs that may not ignore it.
func (c *Conn) Writev(bufs ...[]byte) error {
	iov := make([]unix.Iovec, 0, len(bufs))
	for _, b := range bufs {
		if len(b) > 0 {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	for len(iov) > 0 {
		var n int
		var errno syscall.Errno
		msg := unix.Msghdr{Iov: &iov[0]}
		msg.SetIovlen(len(iov))
		err := c.rc.Write(func(fd uintptr) bool {
			r, _, e := syscall.RawSyscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			n, errno = int(r), e
			return e != syscall.EAGAIN && e != syscall.EINTR
		})
		if err != nil {
			return err
		}
		if errno != 0 {
			return os.NewSyscallError("sendmsg", errno)
		}
		for n > 0 && len(iov) > 0 {
			if l := int(iov[0].Len); n >= l {
				n -= l
				iov = iov[1:]
				continue
			}
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].SetLen(int(iov[0].Len) - n)
			n = 0
		}
	}
	return nil
}

// Spin polls the socket until a read would not wait (bytes, the peer's
// close, an error, a passed deadline) or budget passes, and reports
// whether one would not. Worth it only where the bytes are due within
// about the cost of a thread's sleep and wake-up, tens of microseconds:
// the polling thread keeps its CPU meanwhile.
func (c *Conn) Spin(budget time.Duration) bool {
	if budget <= 0 {
		return false
	}
	deadline := time.Now().Add(budget)
	var b [1]byte
	for {
		ready := false
		err := c.rc.Read(func(fd uintptr) bool {
			r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			// Bytes, or the peer's close (0): a read will not wait.
			ready = e == 0 && int(r) >= 0 || e != syscall.EAGAIN && e != syscall.EINTR
			return true
		})
		if ready || err != nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// ErrWouldBlock is what PreadCached returns when the pages are not all
// in the page cache.
var ErrWouldBlock = errors.New("pages not cached")

// PreadCached reads len(p) bytes at off from fd if they are in the page
// cache, by preadv2(RWF_NOWAIT); otherwise, or where the kernel does not
// support it, it returns ErrWouldBlock and the caller reads the usual
// way. It may return fewer bytes than asked (the file's end, or part of
// the range cached).
func PreadCached(fd uintptr, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	iov := unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	r, _, e := syscall.RawSyscall6(unix.SYS_PREADV2, fd, uintptr(unsafe.Pointer(&iov)), 1,
		uintptr(off), uintptr(off>>32), unix.RWF_NOWAIT)
	switch e {
	case 0:
		return int(r), nil
	case syscall.EAGAIN, syscall.EOPNOTSUPP, syscall.ENOSYS, syscall.EINVAL:
		return 0, ErrWouldBlock
	}
	return 0, e
}

// Size is fstat(2)'s st_size of fd.
func Size(fd uintptr) (int64, error) {
	var st unix.Stat_t
	_, _, e := syscall.RawSyscall(syscall.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)), 0)
	if e != 0 {
		return 0, e
	}
	return st.Size, nil
}
