package clientlib

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/proto"
)

// Local reads: a client on a server's host reads that server's datafile
// itself, through a read-only descriptor the server passes
// (OpLocalFile): one copy from the page cache, by the reading thread,
// and no request. Through the server the same read costs a round trip
// and a copy into the client by CMA, which also pins the client's pages;
// on the 2-core VM of bench/results/2026-12-08 a striped read by CMA
// stayed under 0.65 of a local read of the page cache however the server
// was tuned (2026-12-07b). Writes still go through the servers, which
// order them against truncation and removal.

// maxLocalFiles bounds the datafile descriptors a client holds at once;
// past it, reads of further files go through the servers.
const maxLocalFiles = 1024

// CheckLocalReads returns an error wrapping EINVAL when v is not a value
// of Options.LocalReads ("", "on", "off").
func CheckLocalReads(v string) error {
	if v == "" || v == "on" || v == LocalReadsOff {
		return nil
	}
	return fmt.Errorf("local reads %q: want on or off: %w", v, syscall.EINVAL)
}

// localFiles are a File's descriptors of its datafiles, by server.
type localFiles struct {
	mu    sync.Mutex
	files map[int]*localFile
}

type localFile struct {
	f      *os.File
	expiry int64 // of the capability the descriptor was passed under
}

// localReads reports whether the client reads the datafiles of servers on
// this host itself: on unless Options.LocalReads is "off" or a strategy
// other than auto was asked for (that strategy is then what serves).
func (c *Client) localReads() bool {
	if c.opts.LocalReads == LocalReadsOff {
		return false
	}
	return c.opts.Strategy == "" || c.opts.Strategy == proto.StrategyAuto
}

// localFor returns the descriptor of server's datafile to read from, or
// nil when the read goes through the server: local reads are off, the
// server is not on this host or passes none, the client or file is
// closed (the request path says so), or the client holds maxLocalFiles.
// An error is the server's answer (a capability it refuses, a removed
// file), which a request would get too, or a server that does not answer.
func (f *File) localFor(ctx context.Context, server int, cp proto.Cap) (*os.File, error) {
	c := f.c
	if !c.localReads() || c.closed.Load() {
		return nil, nil
	}
	sc := c.servers[server]
	if sc.noLocal.Load() {
		return nil, nil
	}
	f.local.mu.Lock()
	defer f.local.mu.Unlock()
	if f.closed.Load() {
		return nil, nil
	}
	if lf := f.local.files[server]; lf != nil {
		if lf.expiry == cp.Expiry {
			return lf.f, nil
		}
		// A renewed capability: ask again, so that rights the file's mode
		// no longer grants end here as they do for requests.
		f.dropLocalLocked(server)
	}
	if c.localOpen.Add(1) > maxLocalFiles {
		c.localOpen.Add(-1)
		return nil, nil
	}
	lf, err := sc.localFile(ctx, &proto.DataReq{Handle: f.attr.Handle, Cap: cp, Layout: f.attr.Layout})
	if err != nil || lf == nil {
		c.localOpen.Add(-1)
		return nil, err
	}
	if f.local.files == nil {
		f.local.files = make(map[int]*localFile)
		// The client closes them when it closes: a storage directory
		// cannot be unmounted while a process holds a file open in it.
		c.localMu.Lock()
		if c.closed.Load() {
			c.localMu.Unlock()
			lf.Close()
			c.localOpen.Add(-1)
			return nil, nil
		}
		if c.withLocal == nil {
			c.withLocal = make(map[*File]struct{})
		}
		c.withLocal[f] = struct{}{}
		c.localMu.Unlock()
	}
	f.local.files[server] = &localFile{f: lf, expiry: cp.Expiry}
	return lf, nil
}

// dropLocalLocked closes server's descriptor, under f.local.mu. A read
// still using it fails with os.ErrClosed (os.File counts its users).
func (f *File) dropLocalLocked(server int) {
	if lf := f.local.files[server]; lf != nil {
		lf.f.Close()
		delete(f.local.files, server)
		f.c.localOpen.Add(-1)
	}
}

// closeLocal closes every descriptor of the file's datafiles.
func (f *File) closeLocal() {
	f.local.mu.Lock()
	for server := range f.local.files {
		f.dropLocalLocked(server)
	}
	f.local.files = nil
	f.local.mu.Unlock()
	c := f.c
	c.localMu.Lock()
	delete(c.withLocal, f)
	c.localMu.Unlock()
}

// localPiece is one extent of a local read: dst gets the datafile's
// bytes from offset local on.
type localPiece struct {
	local int64
	dst   []byte
}

// readLocal reads pieces of server's datafile d, as the server would
// serve a read request of those extents: lens say how many bytes of each
// lie before the datafile's end (holes read as zeros), and end is the
// file's logical end that datafile implies. ok is false when the datafile
// was removed: the read then goes through the server, which reports it.
func (f *File) readLocal(d *os.File, server int, pieces []localPiece) (lens []int64, end int64, ok bool, err error) {
	// d.Stat, not a fstat of d.Fd(): the os.File holds the descriptor
	// through the call, where a Close racing a number taken from Fd
	// could leave it naming another file.
	fi, err := d.Stat()
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			err = closedError{"file"}
		}
		return nil, 0, true, fmt.Errorf("stat local datafile: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return nil, 0, false, nil
	}
	if st.Nlink == 0 {
		f.local.mu.Lock()
		if lf := f.local.files[server]; lf != nil && lf.f == d {
			f.dropLocalLocked(server)
		}
		f.local.mu.Unlock()
		return nil, 0, false, nil
	}
	lens = make([]int64, len(pieces))
	for i, x := range pieces {
		want := max(0, min(int64(len(x.dst)), st.Size-x.local))
		if want == 0 {
			continue
		}
		n, err := d.ReadAt(x.dst[:want], x.local)
		if err != nil && !errors.Is(err, io.EOF) { // EOF: cut meanwhile
			if errors.Is(err, os.ErrClosed) {
				err = closedError{"file"}
			}
			return nil, 0, true, fmt.Errorf("read local datafile: %w", err)
		}
		lens[i] = int64(n)
	}
	j, _ := f.attr.Layout.FileServer(server)
	return lens, f.attr.Layout.LogicalEnd(j, st.Size), true, nil
}

// localFile asks the server for a read-only descriptor of a datafile
// (OpLocalFile). nil, nil: this server passes none (not on this host,
// its connection has no reply socket, or local_reads is off there), and
// is not asked again until the client reconnects.
func (sc *serverConn) localFile(ctx context.Context, req *proto.DataReq) (*os.File, error) {
	if _, err := sc.conn(ctx); err != nil {
		return nil, err
	}
	sc.mu.Lock()
	split := sc.out != nil
	sc.mu.Unlock()
	if !split { // a TCP connection, or an older server's Unix one
		sc.noLocal.Store(true)
		return nil, nil
	}
	sc.fdmu.Lock() // one descriptor in flight: its message is the next
	defer sc.fdmu.Unlock()
	c, err := sc.roundTrip(ctx, proto.OpLocalFile, req, nil, nil)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINVAL) {
		sc.noLocal.Store(true)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.out == nil {
		return nil, sc.errorf("localfile", fmt.Errorf("%w: descriptor answered on a connection without a reply socket", proto.ErrMalformed))
	}
	d, err := recvDatafile(c.out, c.hdr.ID, sc.timeout)
	if err != nil {
		return nil, sc.errorf("localfile", err)
	}
	return d, nil
}

// recvDatafile takes request id's descriptor from out, the request
// socket its reply came on, where the server put it before the reply.
// Messages of other requests (whose callers left on a timeout, which
// drops the connection, so there should be none) are closed and skipped.
func recvDatafile(out *rawio.Writer, id uint64, timeout time.Duration) (*os.File, error) {
	rc, _ := out.SyscallConn()
	deadline := time.Now().Add(timeout)
	wait := 50 * time.Microsecond
	var (
		tag [proto.LocalFileTagSize]byte
		got int
		fds []int
	)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for {
		var (
			n, oobn int
			rerr    error
			oob     = make([]byte, unix.CmsgSpace(4*4))
		)
		if err := rc.Control(func(fd uintptr) {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), tag[got:], oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		}); err != nil {
			return nil, fmt.Errorf("receive datafile descriptor: %w", err)
		}
		switch {
		case rerr == unix.EAGAIN || rerr == unix.EINTR:
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("receive datafile descriptor: none came: %w", os.ErrDeadlineExceeded)
			}
			time.Sleep(wait)
			wait = min(2*wait, 10*time.Millisecond)
			continue
		case rerr != nil:
			return nil, fmt.Errorf("receive datafile descriptor: %w", rerr)
		case n == 0:
			return nil, fmt.Errorf("receive datafile descriptor: %w", io.ErrUnexpectedEOF)
		}
		more, err := rightsIn(oob[:oobn])
		fds = append(fds, more...)
		if err != nil {
			return nil, fmt.Errorf("receive datafile descriptor: %w", err)
		}
		if got += n; got < len(tag) {
			continue
		}
		got = 0
		tid, err := proto.ParseLocalFileTag(tag[:])
		if err != nil {
			return nil, err
		}
		if tid != id || len(fds) != 1 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			fds = nil
			if tid != id {
				continue // another request's
			}
			return nil, fmt.Errorf("%w: datafile message carries no descriptor or several", proto.ErrMalformed)
		}
		fd := fds[0]
		fds = nil
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return nil, fmt.Errorf("%w: passed descriptor is not a regular file", syscall.EPROTO)
		}
		return os.NewFile(uintptr(fd), "datafile"), nil
	}
}

// rightsIn returns the descriptors a message's control data carries.
func rightsIn(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds, nil
}
