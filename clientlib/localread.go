package clientlib

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
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
//
// Whatever goes wrong on this path alone (the client or the server out of
// descriptors, a descriptor the kernel dropped, a server with no datafile
// yet) sends the read by request instead; only what a request would also
// get (a refused capability, a removed file, a server that does not
// answer) is the read's error.

// maxLocalFiles bounds the datafile descriptors a client holds at once
// (a quarter of RLIMIT_NOFILE where that is less); past it, reads of
// further files go through the servers.
const maxLocalFiles = 1024

// retryAfter is how long a server that passed no descriptor of a file (it
// holds no datafile of it yet, or failed to pass one) is read by request
// before the client asks again: a read does not pay for a refused ask
// each time.
const retryAfter = time.Second

// CheckLocalReads returns an error wrapping EINVAL when v is not a value
// of Options.LocalReads ("", "on", "off").
func CheckLocalReads(v string) error {
	if v == "" || v == "on" || v == LocalReadsOff {
		return nil
	}
	return fmt.Errorf("local reads %q: want on or off: %w", v, syscall.EINVAL)
}

// localLimit is maxLocalFiles, or a quarter of the descriptors the process
// may open where that is less.
func localLimit() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Cur/4 < maxLocalFiles {
		return int64(rl.Cur / 4)
	}
	return maxLocalFiles
}

// localFiles are a File's descriptors of its datafiles, by server. It is
// apart from the File (which points to it), so that a File dropped
// without Close can be collected and its descriptors closed
// (runtime.AddCleanup).
type localFiles struct {
	c       *Client
	mu      sync.Mutex
	files   map[int]*localFile
	done    bool // closed: no more descriptors
	tracked bool // in c.withLocal, with a cleanup on its File
}

// localFile is one server's entry: a descriptor, an ask in flight, or a
// server read by request until retryAt.
type localFile struct {
	f       *os.File
	asking  chan struct{} // closed when the ask in flight ends
	retryAt time.Time
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
// nil when the read goes by request: local reads are off, the server is
// not on this host or passes none, the client or file is closed (the
// request path says so), the capability lacks the read right (the server
// says so), the client holds its most descriptors, or the server failed
// to pass one. An error is what a read request would get too: the
// server's refusal of the capability, a removed file, or a server that
// does not answer.
func (f *File) localFor(ctx context.Context, server int, cp proto.Cap) (*os.File, error) {
	c := f.c
	if !c.localReads() || c.closed.Load() || f.closed.Load() {
		return nil, nil
	}
	l := f.local
	if cp.Rights&proto.RightRead == 0 {
		// A capability renewed without the read right (the file opened
		// again by name after it expired, as its mode is now): what was
		// passed under the old one goes too.
		l.dropAll()
		return nil, nil
	}
	sc := c.servers[server]
	if sc.noLocal.Load() {
		return nil, nil
	}
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return nil, nil
	}
	e := l.files[server]
	switch {
	case e != nil && e.f != nil:
		l.mu.Unlock()
		return e.f, nil
	case e != nil && e.asking != nil:
		// Another read is asking: take what it got, else go by request
		// (a failed ask is not repeated by every waiter in turn).
		ch := e.asking
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil // the request path reports ctx
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if e := l.files[server]; e != nil && e.f != nil && !l.done {
			return e.f, nil
		}
		return nil, nil
	case e != nil && time.Now().Before(e.retryAt):
		l.mu.Unlock()
		return nil, nil
	}
	if c.localOpen.Add(1) > c.localMax {
		c.localOpen.Add(-1)
		l.mu.Unlock()
		return nil, nil
	}
	ch := make(chan struct{})
	if l.files == nil {
		l.files = make(map[int]*localFile)
	}
	l.files[server] = &localFile{asking: ch}
	l.mu.Unlock()

	d, err := sc.localFile(ctx, &proto.DataReq{Handle: f.attr.Handle, Cap: cp, Layout: f.attr.Layout})

	l.mu.Lock()
	defer l.mu.Unlock()
	defer close(ch)
	delete(l.files, server)
	if d != nil && !l.done && (l.tracked || l.track(f)) {
		l.files[server] = &localFile{f: d}
		return d, nil
	}
	if d != nil {
		d.Close()
	}
	c.localOpen.Add(-1)
	if !l.done {
		// No descriptor: this server's reads go by request for a while,
		// rather than each paying for a refused ask.
		l.files[server] = &localFile{retryAt: time.Now().Add(retryAfter)}
	}
	return nil, err
}

// track puts l in its client's set, which Client.Close closes (a storage
// directory cannot be unmounted while a process holds a file open in
// it), and closes l's descriptors once f is unreachable, for callers that
// drop files without Close. Under l.mu; false when the client closed.
func (l *localFiles) track(f *File) bool {
	c := l.c
	c.localMu.Lock()
	defer c.localMu.Unlock()
	if c.closed.Load() {
		return false
	}
	if c.withLocal == nil {
		c.withLocal = make(map[*localFiles]struct{})
	}
	c.withLocal[l] = struct{}{}
	l.tracked = true
	runtime.AddCleanup(f, func(l *localFiles) { l.close() }, l)
	return true
}

// dropLocked closes server's descriptor d, if it is still the one held,
// under l.mu. A read still using it fails with os.ErrClosed and goes by
// request (os.File counts its users, so the number is not reused under
// it).
func (l *localFiles) dropLocked(server int, d *os.File) {
	if e := l.files[server]; e != nil && e.f != nil && (d == nil || e.f == d) {
		e.f.Close()
		delete(l.files, server)
		l.c.localOpen.Add(-1)
	}
}

// dropAll closes every descriptor held; asks in flight go on.
func (l *localFiles) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for server := range l.files {
		l.dropLocked(server, nil)
	}
}

// close closes every descriptor, and no more are taken.
func (l *localFiles) close() {
	l.mu.Lock()
	l.done = true
	for server := range l.files {
		l.dropLocked(server, nil)
	}
	l.mu.Unlock()
	c := l.c
	c.localMu.Lock()
	delete(c.withLocal, l)
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
// file's logical end that datafile implies. ok is false when the read
// must go by request instead: the datafile was removed (the server then
// says so) or its descriptor was dropped meanwhile (a capability without
// the read right).
func (f *File) readLocal(d *os.File, server int, pieces []localPiece) (lens []int64, end int64, ok bool, err error) {
	closed := func(err error) (bool, error) {
		switch {
		case f.closed.Load():
			return true, closedError{"file"}
		case f.c.closed.Load():
			return true, closedError{"client"}
		case errors.Is(err, os.ErrClosed):
			return false, nil
		}
		return true, err
	}
	// d.Stat, not a fstat of d.Fd(): the os.File holds the descriptor
	// through the call, where a Close racing a number taken from Fd
	// could leave it naming another file.
	fi, err := d.Stat()
	if err != nil {
		ok, err := closed(err)
		return nil, 0, ok, wrapLocal("stat", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil || st.Nlink == 0 {
		f.local.mu.Lock()
		f.local.dropLocked(server, d)
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
			ok, err := closed(err)
			return nil, 0, ok, wrapLocal("read", err)
		}
		lens[i] = int64(n)
	}
	j, _ := f.attr.Layout.FileServer(server)
	return lens, f.attr.Layout.LogicalEnd(j, st.Size), true, nil
}

func wrapLocal(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s local datafile: %w", op, err)
}

// localFile asks the server for a read-only descriptor of a datafile
// (OpLocalFile). Without one and without an error the read goes by
// request: the server holds no datafile of the file yet, failed to pass
// it, or passes none at all (not on this host, or local_reads off there:
// it is not asked again until the client reconnects). An error is one a
// read request would get too.
func (sc *serverConn) localFile(ctx context.Context, req *proto.DataReq) (*os.File, error) {
	if _, err := sc.conn(ctx); err != nil {
		return nil, sc.errorf("localfile", err)
	}
	if sc.noLocal.Load() { // set by the connection: TCP, or the server's hello said no
		return nil, nil
	}
	select { // one descriptor in flight: its message is the next
	case sc.fdSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, nil // the request path reports ctx
	}
	defer func() { <-sc.fdSlot }()
	if sc.noLocal.Load() { // learnt while this ask waited
		return nil, nil
	}
	c, err := sc.roundTrip(ctx, proto.OpLocalFile, req, nil, nil)
	var re *RemoteError
	switch {
	case err == nil:
	case !errors.As(err, &re):
		return nil, err // the connection failed: a request would too
	case re.Errno == syscall.EOPNOTSUPP:
		sc.noLocal.Store(true)
		return nil, nil
	case re.Errno == syscall.EACCES || re.Errno == syscall.ESTALE || re.Errno == syscall.EINVAL:
		return nil, err
	default: // ENODATA (no datafile yet), or the server's own trouble
		slog.Debug("ferry: reading by request", "server", sc.id, "why", err)
		return nil, nil
	}
	if c.out == nil { // the connection changed since the look above
		return nil, nil
	}
	d, err := recvDatafile(c.out, c.hdr.ID)
	switch {
	case errors.Is(err, errDescriptorDropped) || errors.Is(err, syscall.EPROTO):
		// The message was whole: the stream is still in step.
		slog.Debug("ferry: reading by request", "server", sc.id, "why", err)
		return nil, nil
	case err != nil:
		// The request socket's stream is not what the protocol says:
		// a new connection starts it afresh.
		sc.failOut(c.out, sc.errorf("localfile", err))
		return nil, nil
	}
	return d, nil
}

// failOut drops the connection whose request socket is out, if it is
// still the current one.
func (sc *serverConn) failOut(out *rawio.Writer, err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.nc != nil && sc.out == out {
		sc.dropLocked(sc.nc, err)
	}
}

// errDescriptorDropped: the tag came without its descriptor, which the
// kernel drops when the receiving process is out of descriptors.
var errDescriptorDropped = errors.New("datafile descriptor dropped (is the process out of descriptors?)")

// recvDatafile takes request id's descriptor from out, the request
// socket its reply came on, where the server put it before the reply: it
// is there already, so it does not wait. Messages of other requests
// (whose callers left on a timeout, which drops the connection, so there
// should be none) are closed and skipped.
func recvDatafile(out *rawio.Writer, id uint64) (*os.File, error) {
	rc, _ := out.SyscallConn()
	var (
		tag     [proto.LocalFileTagSize]byte
		got     int
		fds     []int
		dropped bool
	)
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
		fds = nil
	}
	defer closeAll()
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		var (
			n, oobn, flags int
			rerr           error
		)
		if err := rc.Control(func(fd uintptr) {
			for {
				n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), tag[got:], oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
				if rerr != unix.EINTR {
					return
				}
			}
		}); err != nil {
			return nil, fmt.Errorf("receive datafile descriptor: %w", err)
		}
		switch {
		case rerr == unix.EAGAIN:
			return nil, fmt.Errorf("receive datafile descriptor: %w: none came before the reply", proto.ErrMalformed)
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
		dropped = dropped || flags&unix.MSG_CTRUNC != 0
		if got += n; got < len(tag) {
			continue
		}
		got = 0
		tid, err := proto.ParseLocalFileTag(tag[:])
		if err != nil {
			return nil, err
		}
		if tid != id {
			closeAll() // another request's
			dropped = false
			continue
		}
		switch {
		case len(fds) == 0 && dropped:
			return nil, errDescriptorDropped
		case len(fds) != 1:
			return nil, fmt.Errorf("%w: datafile message carries %d descriptors", proto.ErrMalformed, len(fds))
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

// ReadPath says how this client reads server id's strips, as far as its
// connection to that server tells (made by the first call to it, such as
// Ping): "local" (it reads the server's datafiles itself, see
// Options.LocalReads), else "by request" and why.
func (c *Client) ReadPath(id int) string {
	switch {
	case c.opts.LocalReads == LocalReadsOff:
		return "by request (local reads off)"
	case !c.localReads():
		return "by request (strategy " + c.opts.Strategy + ")"
	case id < 0 || id >= len(c.servers):
		return "by request"
	}
	sc := c.servers[id]
	sc.mu.Lock()
	connected, split, passes := sc.nc != nil, sc.out != nil, sc.passes
	sc.mu.Unlock()
	switch {
	case !connected:
		return "not known yet (not connected)"
	case !split:
		return "by request (not on this host's Unix socket)"
	case !passes:
		return "by request (the server's local_reads is false)"
	case sc.noLocal.Load():
		return "by request (the server passes no descriptors)"
	}
	return "local"
}
