package rawio

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Writer writes a socket that is not in Go's network poller: the sending
// end of a Unix stream socket whose messages only ever go one way.
//
// Why: Go's poller registers every socket for writability as well as
// readability, and a Unix stream socket tells every poller it is in that
// it may write again each time its peer reads a message (unix_write_space
// in the kernel; TCP says so only after a write found no room). So each
// message read wakes the sender's poller thread for nothing: in a small
// request's round trip, one needless wake-up on each side. A socket that
// is only written, kept out of that poller, costs none.
//
// The socket does not block: a write with room is one raw system call.
// A write without room waits for room in the kernel (poll(2)), where the
// reader's progress wakes its thread directly: a stream of replies by
// sendfile(2) ran 12-13 % faster this way than through Go's poller, at a
// quarter less of the server's CPU, where waiting in a poller of its own
// (two wake-ups per wait) was slower than Go's (bench/results/2026-12-07d).
// Such a wait lasts at most blockFor and holds one of
// blockSlots, of which the process has few; without a free slot, or once
// a wait in the kernel has passed blockFor without room (a peer that
// reads slowly or not at all), the socket is armed, one-shot, in a poller
// of this package's own (outPoll) and the goroutine parks, holding no
// thread. A one-shot arm fires once and is then off, so later reads by
// the peer wake nothing. A write fails at the deadline set by
// SetWriteDeadline (os.ErrDeadlineExceeded) or when the Writer is closed
// (net.ErrClosed).
//
// Writev, Write and SetWriteDeadline are called by one goroutine at a
// time; Close may be called by any, at any time.
type Writer struct {
	id       uint64 // the Writer's key in outPoll (descriptors are reused; ids are not)
	room     chan struct{}
	done     chan struct{} // closed by Close
	deadline atomic.Int64  // Unix ns; 0: none

	mu     sync.Mutex // held around each system call on fd, so Close cannot close it under one
	fd     int        // -1 once closed
	added  bool       // fd is in outPoll (disarmed or armed)
	closed atomic.Bool

	w writeSide
}

// blockFor bounds one wait for room in the kernel.
const blockFor = 20 * time.Millisecond

// blockSlots bounds the threads waiting for room in the kernel at once.
var blockSlots = make(chan struct{}, 16)

// NewWriter takes over fd, a connected stream socket, and writes it
// outside Go's poller. On error fd is closed.
func NewWriter(fd int) (*Writer, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("socket %d non-blocking: %w", fd, err)
	}
	w := &Writer{id: nextWriterID.Add(1), room: make(chan struct{}, 1), done: make(chan struct{}), fd: fd}
	w.w.write = w.w.doWrite
	return w, nil
}

var nextWriterID atomic.Uint64

// SetWriteDeadline bounds the writes that follow, as a net.Conn's does:
// a write still waiting for room at t fails with os.ErrDeadlineExceeded.
// The zero time means none.
func (w *Writer) SetWriteDeadline(t time.Time) {
	if t.IsZero() {
		w.deadline.Store(0)
		return
	}
	w.deadline.Store(t.UnixNano())
}

// Detach takes c's socket out of Go's poller: it returns a new descriptor
// for the same socket (close-on-exec) and closes c, which drops c's
// registration with the poller but not the socket.
func Detach(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("detach %T: no descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("detach: dup: %w", derr)
	}
	if err := c.Close(); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("detach: %w", err)
	}
	return fd, nil
}

// Writev writes every byte of bufs. A peer that is gone gives EPIPE,
// never SIGPIPE; a Writer closed meanwhile, net.ErrClosed.
func (w *Writer) Writev(bufs ...[]byte) error {
	_, err := w.writev(bufs)
	return err
}

func (w *Writer) writev(bufs [][]byte) (int, error) {
	n, err := w.w.writev(writerRaw{w}, bufs)
	if err != nil && w.closed.Load() {
		return n, fmt.Errorf("write: %w", net.ErrClosed) // not the EPIPE of Close's shutdown
	}
	return n, err
}

// Write writes every byte of p (io.Writer); on an error, n is how many
// were written before it.
func (w *Writer) Write(p []byte) (int, error) { return w.writev([][]byte{p}) }

// SyscallConn gives the socket's descriptor to calls such as sendfile(2),
// which get EAGAIN without room and are called again once there is some
// (syscall.Conn).
func (w *Writer) SyscallConn() (syscall.RawConn, error) { return writerRaw{w}, nil }

// Close closes the socket; a write waiting for room returns net.ErrClosed.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	close(w.done)
	// A wait for room in the kernel returns (the socket is shut down) and
	// lets go of mu. Only Close closes fd, so it is still this socket.
	unix.Shutdown(w.fd, unix.SHUT_RDWR)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.added {
		outPoll.remove(w)
	}
	err := unix.Close(w.fd)
	w.fd = -1
	return err
}

// writerRaw is a Writer as a syscall.RawConn.
type writerRaw struct{ w *Writer }

// Control runs f on the descriptor.
func (r writerRaw) Control(f func(fd uintptr)) error {
	w := r.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd < 0 {
		return fmt.Errorf("control: %w", net.ErrClosed)
	}
	f(uintptr(w.fd))
	return nil
}

// Read is not for a socket that is only written.
func (r writerRaw) Read(func(fd uintptr) bool) error {
	return fmt.Errorf("read a write-only socket: %w", syscall.EBADF)
}

// Write calls f, which must not block, until it reports done, waiting
// for room each time it does not.
func (r writerRaw) Write(f func(fd uintptr) bool) error {
	w := r.w
	for {
		w.mu.Lock()
		if w.fd < 0 {
			w.mu.Unlock()
			return fmt.Errorf("write: %w", net.ErrClosed)
		}
		ok := f(uintptr(w.fd))
		w.mu.Unlock()
		if ok {
			return nil
		}
		if err := w.waitRoom(); err != nil {
			return err
		}
	}
}

// waitRoom waits until the socket may have room: in the kernel if a slot
// is free, else (or if that wait ran out) in outPoll.
func (w *Writer) waitRoom() error {
	var deadline time.Time
	if dl := w.deadline.Load(); dl != 0 {
		deadline = time.Unix(0, dl)
		if !time.Now().Before(deadline) {
			return w.timedOut()
		}
	}
	select {
	case blockSlots <- struct{}{}:
		wait := blockFor
		if !deadline.IsZero() {
			wait = min(wait, time.Until(deadline))
		}
		ready, err := w.pollOut(wait)
		<-blockSlots
		if ready || err != nil {
			return err
		}
	default:
	}
	w.mu.Lock()
	err := w.armLocked()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-w.room:
		return nil
	case <-w.done:
		return fmt.Errorf("write: %w", net.ErrClosed)
	case <-timeout:
		return w.timedOut()
	}
}

// pollOut waits in the kernel, up to wait, until the socket has room (or
// an error or hang-up, which the next write reports); ready is false when
// wait passed first.
func (w *Writer) pollOut(wait time.Duration) (ready bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd < 0 {
		return false, fmt.Errorf("write: %w", net.ErrClosed)
	}
	fds := [1]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLOUT}}
	ts := unix.NsecToTimespec(max(wait, 0).Nanoseconds())
	n, err := unix.Ppoll(fds[:], &ts, nil) // a system call the scheduler knows may block
	if err == unix.EINTR {
		return true, nil // look again
	}
	if err != nil {
		return false, fmt.Errorf("wait for room on socket: %w", err)
	}
	return n > 0, nil
}

func (w *Writer) timedOut() error {
	return fmt.Errorf("no room to write by the deadline: %w", os.ErrDeadlineExceeded)
}

// armLocked asks outPoll for one wake-up when the socket has room.
func (w *Writer) armLocked() error {
	if w.fd < 0 {
		return fmt.Errorf("write: %w", net.ErrClosed)
	}
	select {
	case <-w.room: // an old wake-up: the arm below brings a fresh one
	default:
	}
	if err := outPoll.arm(w); err != nil {
		return fmt.Errorf("wait for room on socket: %w", err)
	}
	w.added = true
	return nil
}

// outPoll is the epoll instance Writers wait for room in. It is made, and
// its goroutine started, at the first wait for room, and lives as long as
// the process, as Go's own poller does; it holds only sockets whose
// Writers are open.
var outPoll = &roomPoller{writers: make(map[uint64]*Writer)}

type roomPoller struct {
	once    sync.Once
	epfd    int
	err     error
	made    atomic.Int32 // epfd once made, for InPoller; 0 before
	mu      sync.Mutex
	writers map[uint64]*Writer
}

// arm adds or re-arms w's socket, one-shot, for room to write. Called
// under w.mu.
func (p *roomPoller) arm(w *Writer) error {
	p.once.Do(p.start)
	if p.err != nil {
		return p.err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(w.id), Pad: int32(w.id >> 32)}
	if w.added {
		return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, w.fd, &ev)
	}
	p.mu.Lock()
	p.writers[w.id] = w
	p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, w.fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.writers, w.id)
		p.mu.Unlock()
		return err
	}
	return nil
}

// remove takes w's socket out, before it is closed. Called under w.mu.
func (p *roomPoller) remove(w *Writer) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, w.fd, nil)
	p.mu.Lock()
	delete(p.writers, w.id)
	p.mu.Unlock()
}

func (p *roomPoller) start() {
	p.epfd, p.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if p.err != nil {
		return
	}
	p.made.Store(int32(p.epfd))
	go p.loop()
}

// loop hands each socket that has room to its Writer's waiting goroutine.
func (p *roomPoller) loop() {
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1) // a blocking system call: this goroutine's thread sleeps in it
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			panic(fmt.Sprintf("rawio: epoll_wait for writers: %v", err))
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if w := p.writers[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]; w != nil {
				select {
				case w.room <- struct{}{}:
				default:
				}
			}
		}
		p.mu.Unlock()
	}
}

// InPoller reports whether descriptor fd is registered with any epoll
// instance of this process other than outPoll (Go's network poller is
// one), by the kernel's account in /proc/self/fdinfo: what the checks of
// Writer and Detach look at.
func InPoller(fd int) (bool, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		if ep := outPoll.made.Load(); ep > 0 && e.Name() == fmt.Sprint(ep) {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		for line := range strings.Lines(string(info)) {
			var tfd int
			if _, err := fmt.Sscanf(line, "tfd: %d", &tfd); err == nil && tfd == fd {
				return true, nil
			}
		}
	}
	return false, nil
}
