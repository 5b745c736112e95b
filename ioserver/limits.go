package ioserver

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/proto"
)

// Memory a server spends on connections: each holds a goroutine, its
// socket and, only while a frame is being read, one pooled read buffer of
// readBufSize bytes, so idle connections cost a few KiB each and
// MaxConns bounds the total. Registered memory is the pools' pool_bytes
// per fabric, plus the registered mappings of the sendfile strategy
// (address space backed by the page cache, not allocated memory).
const readBufSize = 64 << 10

var readBufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// limits are a server's connection limits, defaults filled in.
type limits struct {
	maxConns, perHost int
	idle              time.Duration
}

// connLimits fills in cfg's connection limits and caps the number of
// connections by nofile, counting descPerConn descriptors per connection:
// 2 on a server with a Unix socket, whose connections there each hold a
// reply socket too, 1 on one without.
func connLimits(cfg *config.Config, nofile uint64, descPerConn int) limits {
	l := limits{maxConns: cfg.MaxConns, perHost: cfg.MaxConnsPerHost, idle: cfg.IdleTimeout.Duration}
	if l.maxConns == 0 {
		l.maxConns = config.DefaultMaxConns
	}
	if l.perHost == 0 {
		l.perHost = config.DefaultMaxConnsPerHost
	}
	if l.idle == 0 {
		l.idle = config.DefaultIdleTimeout
	}
	// Keep descriptors for datafiles, the store and the fabrics.
	if nofile > 0 {
		l.maxConns = min(l.maxConns, max(16, (int(nofile)-256)/max(1, descPerConn)))
	}
	l.perHost = min(l.perHost, l.maxConns)
	return l
}

// raiseNofile lifts the soft RLIMIT_NOFILE to the hard limit and returns
// it (0 when unknown): every connection is a descriptor.
func raiseNofile() uint64 {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = want.Max
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &want) == nil {
			r = want
		}
	}
	return r.Cur
}

// acceptBackoff reports whether an accept error is one to wait out (out of
// descriptors or memory, a connection reset before it was accepted)
// rather than a broken listener.
func acceptBackoff(err error) bool {
	for _, e := range []error{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// hostOf is the client address a per-host limit counts.
func hostOf(nc net.Conn) string {
	a := nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// errIdle ends a connection that sent nothing for the idle timeout.
var errIdle = errors.New("idle connection")

// frameIn reads a connection's frames. Between frames it holds no pooled
// buffer: the wait for a frame reads into a small array of its own, which
// holds a whole small request (one system call for it, not a 1-byte read
// and then the rest); a pooled read buffer is taken only when a frame
// needs more, and goes back once all it read is consumed.
type frameIn struct {
	nc    net.Conn
	src   io.Reader // nc, or nc by raw system calls (rawio)
	poll  *nextPoll // whether to poll for the next frame before sleeping; nil: never
	br    *bufio.Reader
	small [512]byte
	pre   []byte // unread bytes in small, read before br
}

func (f *frameIn) Read(p []byte) (int, error) {
	if len(f.pre) > 0 {
		n := copy(p, f.pre)
		f.pre = f.pre[n:]
		return n, nil
	}
	if f.br == nil {
		if len(p) >= readBufSize {
			return f.src.Read(p)
		}
		f.br = readBufs.Get().(*bufio.Reader)
		f.br.Reset(f.src)
	}
	return f.br.Read(p)
}

// release gives the read buffer back if nothing is left in it.
// buffered reports whether bytes of a next frame are already read.
func (f *frameIn) buffered() bool { return len(f.pre) > 0 || f.br != nil && f.br.Buffered() > 0 }

func (f *frameIn) release() {
	if f.br != nil && f.br.Buffered() == 0 {
		f.br.Reset(nil)
		readBufs.Put(f.br)
		f.br = nil
	}
}

// header waits for the next frame's header. The wait for its first byte
// ends after idle unless busy says requests are still in flight (their
// clients are waiting, not idle); once it starts, the whole header must
// arrive within timeout.
func (f *frameIn) header(idle, timeout time.Duration, busy func() bool) (proto.Header, error) {
	var b [proto.HeaderSize]byte
	f.release()
	if f.br == nil && len(f.pre) == 0 {
		if !busy() {
			// Nothing in flight: the client may be about to send its
			// next request (nextPoll).
			f.poll.wait()
		}
		for {
			f.nc.SetReadDeadline(time.Now().Add(idle))
			m, err := f.src.Read(f.small[:]) // no pooled buffer held while idle
			if m > 0 {
				f.pre = f.small[:m]
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && busy() {
				continue
			}
			if err == nil {
				continue
			}
			if errors.As(err, &ne) && ne.Timeout() {
				return proto.Header{}, errIdle
			}
			return proto.Header{}, err
		}
	}
	f.nc.SetReadDeadline(time.Now().Add(timeout))
	if _, err := io.ReadFull(f, b[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return proto.Header{}, err
	}
	return proto.ParseHeader(b[:])
}
