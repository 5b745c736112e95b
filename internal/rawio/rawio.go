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
//
// Read and Spin are called by one goroutine at a time, and so is Writev
// (a stream has one reader and one writer at a time: the callers hold
// their connection's read token or write lock). Each side keeps its
// system call's arguments and the function the poller calls in the Conn,
// made once, so that a call allocates nothing.
type Conn struct {
	rc syscall.RawConn
	r  readSide
	w  writeSide
}

type readSide struct {
	p     []byte // Read's buffer, for the call's duration
	n     int
	errno syscall.Errno
	peek  [1]byte
	ready bool
	read  func(fd uintptr) bool // r.doRead
	poll  func(fd uintptr) bool // r.doPeek
}

type writeSide struct {
	iov   [8]unix.Iovec // room for the usual frame plus data buffers
	msg   unix.Msghdr
	n     int
	errno syscall.Errno
	write func(fd uintptr) bool // w.doWrite
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
	conn := &Conn{rc: rc}
	conn.r.read, conn.r.poll, conn.w.write = conn.r.doRead, conn.r.doPeek, conn.w.doWrite
	return conn
}

func (r *readSide) doRead(fd uintptr) bool {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.p[0])), uintptr(len(r.p)))
	r.n, r.errno = int(n), e
	return e != syscall.EAGAIN && e != syscall.EINTR
}

// doPeek looks without waiting: bytes, or the peer's close (0), mean a
// read will not wait.
func (r *readSide) doPeek(fd uintptr) bool {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.peek[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	r.ready = e == 0 && int(n) >= 0 || e != syscall.EAGAIN && e != syscall.EINTR
	return true
}

func (w *writeSide) doWrite(fd uintptr) bool {
	n, _, e := syscall.RawSyscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&w.msg)), unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
	w.n, w.errno = int(n), e
	return e != syscall.EAGAIN && e != syscall.EINTR
}

// Read reads into p, waiting for the socket to become readable if it is
// not; 0 bytes and no error is never returned for a non-empty p.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r := &c.r
	r.p = p
	err := c.rc.Read(r.read)
	r.p = nil // the caller's buffer is not kept
	switch {
	case err != nil:
		return 0, err
	case r.errno != 0:
		return 0, os.NewSyscallError("read", r.errno)
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}

// maxIov is the most buffers one sendmsg takes (the kernel's UIO_MAXIOV):
// more is EMSGSIZE, so a list write of a few thousand small pieces failed
// whole. Longer lists go in several calls, as partial writes do.
const maxIov = 1024

// Writev writes every byte of bufs, waiting for room when the socket has
// none. A peer that is gone gives EPIPE, never SIGPIPE (MSG_NOSIGNAL):
// the client library runs inside programs that may not ignore it.
func (c *Conn) Writev(bufs ...[]byte) error {
	_, err := c.w.writev(c.rc, bufs)
	return err
}

// writev writes every byte of bufs by w.write, through rc, and returns
// how many it wrote (all of them unless err is set).
func (w *writeSide) writev(rc syscall.RawConn, bufs [][]byte) (int, error) {
	iov := w.iov[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v) // past len(w.iov): a new array, rare
		}
	}
	defer func() { // the caller's buffers are not kept
		clear(w.iov[:])
		w.msg = unix.Msghdr{}
	}()
	written := 0
	for len(iov) > 0 {
		w.msg = unix.Msghdr{Iov: &iov[0]}
		w.msg.SetIovlen(min(len(iov), maxIov))
		err := rc.Write(w.write)
		if err != nil {
			return written, err
		}
		if w.errno != 0 {
			return written, os.NewSyscallError("sendmsg", w.errno)
		}
		n := w.n
		written += n
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
	return written, nil
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
	r := &c.r
	for {
		r.ready = false
		err := c.rc.Read(r.poll)
		if r.ready || err != nil {
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
