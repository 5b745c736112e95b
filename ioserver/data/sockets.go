package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/rawio"
)

// sockets is the baseline with no fabric: reads stream each extent from
// the datafile onto the control connection with sendfile(2) (no copy in
// user space), writes copy from the connection into the datafile.
type sockets struct{}

// smallRead is the largest read the sockets strategy copies into a buffer
// rather than streams: below it, a pread and one write of reply and bytes
// together cost less than a second write and a sendfile.
const smallRead = 64 << 10

// smallBufs hold small reads until they are written.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallRead); return &b }}

// Read hands the connection layer a function that streams the extents:
// the bytes follow the reply's control part in the same frame. Small reads
// are read here and handed over as bytes.
func (sockets) Read(ctx context.Context, e *env, j *job) (Result, error) {
	if total := sum(j.lens); total <= smallRead {
		bp := smallBufs.Get().(*[]byte)
		buf := (*bp)[:total]
		at := 0
		for i, x := range j.req.Extents {
			n := int(j.lens[i])
			if n == 0 {
				continue
			}
			got, err := readCached(j.file, buf[at:at+n], x.Local)
			if err != nil && err != io.EOF {
				smallBufs.Put(bp)
				return Result{}, fmt.Errorf("read extent %d of %s: %w", i, j.req.Handle, err)
			}
			clear(buf[at+got : at+n]) // the datafile shrank under us: keep the frame whole
			at += n
		}
		return Result{Lens: j.lens, Bytes: total, Small: buf, Release: func() { smallBufs.Put(bp) }}, nil
	}
	stream := func(w Sink) error {
		for i, x := range j.req.Extents {
			if j.lens[i] == 0 {
				continue
			}
			sent, err := sendfileTo(w, j.file, x.Local, j.lens[i])
			if err != nil {
				return fmt.Errorf("sendfile extent %d of %s: %w", i, j.req.Handle, err)
			}
			if sent < j.lens[i] { // the datafile shrank under us: keep the frame whole
				if err := writeZeros(w, j.lens[i]-sent); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return Result{Lens: j.lens, Bytes: sum(j.lens), Inline: stream}, nil
}

func (sockets) Write(ctx context.Context, e *env, j *job) (Result, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for i, x := range j.req.Extents {
		off, left := x.Local, x.Len
		for left > 0 {
			chunk := buf[:min(left, int64(len(buf)))]
			if _, err := io.ReadFull(j.body, chunk); err != nil {
				return Result{}, fmt.Errorf("receive extent %d of %s: %w", i, j.req.Handle, err)
			}
			if _, err := j.file.WriteAt(chunk, off); err != nil {
				return Result{}, fmt.Errorf("write datafile %s at %d: %w", j.req.Handle, off, err)
			}
			off += int64(len(chunk))
			left -= int64(len(chunk))
		}
	}
	return Result{Bytes: j.req.Total()}, nil
}

// copyBufs are the 1 MiB buffers inline writes pass through, reused
// rather than allocated per request.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// sendfileTo copies n bytes of the file at off onto a TCP or Unix socket
// connection with sendfile(2); it returns fewer than n only at the file's
// end.
func sendfileTo(c Sink, f *os.File, off, n int64) (int64, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("sendfile needs a socket, have %T", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	infd := int(f.Fd())
	var written int64
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for written < n {
			o := off + written
			m, e := unix.Sendfile(int(fd), infd, &o, int(min(n-written, 1<<30)))
			if m > 0 {
				written += int64(m)
			}
			switch {
			case e == unix.EAGAIN:
				return false // wait until the socket is writable
			case e == unix.EINTR:
				continue
			case e != nil:
				serr = e
				return true
			case m == 0:
				return true // end of file
			}
		}
		return true
	})
	if serr != nil {
		return written, serr
	}
	return written, err
}

var zeros = make([]byte, 64<<10)

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		m := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// readCached reads p at off from f: by a raw system call when the pages
// are cached (rawio.PreadCached), else the usual way.
func readCached(f *os.File, p []byte, off int64) (int, error) {
	n, err := rawio.PreadCached(f.Fd(), p, off)
	if err == nil && n == len(p) {
		return n, nil
	}
	if err != nil && !errors.Is(err, rawio.ErrWouldBlock) {
		return 0, err
	}
	m, err := f.ReadAt(p[n:], off+int64(n))
	return n + m, err
}
