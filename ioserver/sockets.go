package ioserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// socketsStrategy is the baseline with no fabric: reads stream each extent
// from the datafile onto the control connection with sendfile(2) (zero
// copies in user space), writes copy from the connection into the datafile.
type socketsStrategy struct{}

func (socketsStrategy) Name() string { return "sockets" }

func (socketsStrategy) Read(ctx context.Context, j *Job) error {
	j.resp.Lens = j.Lens
	j.resp.Strategy = "sockets"
	var data int64
	for _, n := range j.Lens {
		data += n
	}
	ctl := proto.AppendDataPrefix(nil, &j.resp)
	h := proto.Header{Flags: proto.FlagReply, Op: proto.OpRead, ID: j.Header.ID, BodyLen: uint32(int64(len(ctl)) + data)}
	j.Replied = true
	return j.conn.send(func(w net.Conn) error {
		if _, err := w.Write(append(proto.AppendHeader(nil, h), ctl...)); err != nil {
			return err
		}
		for i, x := range j.Req.Extents {
			if j.Lens[i] == 0 {
				continue
			}
			sent, err := sendfile(w, j.File, x.Local, j.Lens[i])
			if err != nil {
				return fmt.Errorf("sendfile extent %d of %s: %w", i, j.Req.Handle, err)
			}
			if sent < j.Lens[i] { // the datafile shrank under us: keep the frame whole
				if err := writeZeros(w, j.Lens[i]-sent); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (socketsStrategy) Write(ctx context.Context, j *Job) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for i, x := range j.Req.Extents {
		off, left := x.Local, x.Len
		for left > 0 {
			chunk := buf[:min(left, int64(len(buf)))]
			if _, err := io.ReadFull(j.Body, chunk); err != nil {
				return fmt.Errorf("receive extent %d of %s: %w", i, j.Req.Handle, err)
			}
			if _, err := j.File.WriteAt(chunk, off); err != nil {
				return fmt.Errorf("write datafile %s at %d: %w", j.Req.Handle, off, err)
			}
			off += int64(len(chunk))
			left -= int64(len(chunk))
		}
	}
	return nil
}

// copyBufs are the 1 MiB buffers inline writes pass through, reused
// rather than allocated per request.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// sendfile copies n bytes of the file at off onto a TCP connection with
// sendfile(2); it returns fewer than n only at the file's end.
func sendfile(c net.Conn, f *os.File, off, n int64) (int64, error) {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return 0, fmt.Errorf("sendfile needs a TCP connection, have %T", c)
	}
	rc, err := tcp.SyscallConn()
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
