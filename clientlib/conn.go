package clientlib

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/proto"
)

// serverConn is the control connection to one server, multiplexed: many
// calls in flight, matched to replies by request id. It dials lazily and
// redials after a failure.
type serverConn struct {
	id      int
	addr    string
	timeout time.Duration
	name    string         // client name for the hello; "" skips the hello
	fabrics []proto.Fabric // the client's fabric addresses, sent in the hello
	// lane tells the fabric endpoint how this server uses the lane the
	// hello gave it: reached by RMA (true) or maybe new (a new connection:
	// the server may have restarted). Nil without a fabric.
	lane func(reached bool)
	// busy marks the server's lane busy with about rmas RMAs until the
	// returned function runs (verbs.Endpoint.LaneBusy), and expects the
	// server's first contact while it has not reached us since it
	// connected; nil without a fabric.
	busy func(rmas int) (done func())
	// reached: the server has reached us by RMA since it connected (set
	// through lane).
	reached atomic.Bool
	// lanePeer tells the fabric endpoint which process the server is
	// (its pid on a Unix socket, 0 when unknown), so that a lock on the
	// lane held by a server that died can be freed
	// (verbs.Endpoint.SetLanePeer). Nil without a fabric.
	lanePeer func(pid int)
	socket   string        // the server's Unix socket, tried first when it is on this host
	spin     time.Duration // Options.SpinWait
	auth     authConfig

	closed  bool   // Client.Close ran: no more dialing
	refused string // why the server did not take our fabric address

	rdmaKnown bool // a hello has told whether the server shares our fabric
	rdma      bool
	local     string // local address of the last connection

	mu sync.Mutex
	// dialing is the connection being made, outside mu: callers that
	// find it wait for its outcome instead of dialing again one after
	// another (a hung server cost the k-th of them k timeouts), and
	// close cancels it.
	dialing *dialAttempt
	nc      net.Conn // where replies come from
	rd      *replies // the reading side of nc
	// out, where the server gave this connection a reply socket (on the
	// Unix socket: splitReplies), is where requests go instead of nc.
	out     *rawio.Writer
	pending map[uint64]*call
	nextID  uint64
	wmu     sync.Mutex

	// noLocal: this connection's server passes no datafile descriptors
	// (localread.go): it says so in the hello (passes), the connection
	// has no reply socket (TCP), or it refused; set anew by a new
	// connection.
	noLocal atomic.Bool
	passes  bool // the last hello's LocalReads
	// fdSlot: one OpLocalFile at a time, so that its descriptor is the
	// next message; a channel, so that a caller's context ends its wait.
	fdSlot chan struct{}
}

// replies is the reading side of one connection. No goroutine of its own
// reads it: a caller waiting for its reply takes the token and reads
// frames, handing each to its call, until its own has come; then it
// passes the token to the next waiter. A lone call thus reads its reply
// on its own thread: a reader goroutine that woke the caller cost a
// thread hand-off per request, about a third of a small read's latency.
type replies struct {
	nc    net.Conn
	raw   *rawio.Conn // nc by raw system calls; nil where nc has no descriptor
	br    *bufio.Reader
	token chan struct{} // holds the right to read; one slot
	last  atomic.Int64  // when the last reply was read, Unix ns
}

// idleCheck is how long a connection may go without a reply before a
// call checks that the server has not closed it: with no goroutine
// reading, nothing else notices a server that restarted or closed an
// idle connection, and the call would fail instead of redialing.
const idleCheck = 100 * time.Millisecond

// smallReply is the largest inline read or write whose reply a caller
// polls for (Options.SpinWait): the server serves it in its read loop,
// at once.
const smallReply = 64 << 10

// DefaultSpinWait is Options.SpinWait's default: above a 4 KiB read's
// round trip to a server on the same host (35-70 µs on the 2-core VM it
// was measured on; 50 µs missed a quarter of the replies).
const DefaultSpinWait = 100 * time.Microsecond

type call struct {
	done chan struct{}
	// soon: a small request, whose reply is worth spinning for
	soon bool
	hdr  proto.Header
	body []byte
	// sink reads a data reply's body (exactly hdr.BodyLen bytes from r)
	// straight into the caller's buffer.
	sink func(h proto.Header, r io.Reader) error
	err  error
	// out is the request socket the call went on, where one is apart
	// from the replies' (OpLocalFile's descriptor comes back on it).
	out *rawio.Writer
}

func (sc *serverConn) errorf(op string, err error) error {
	return &Error{Op: op, Server: sc.id, Addr: sc.addr, Err: err}
}

// dialAttempt is one connection being made (serverConn.dialing).
type dialAttempt struct {
	done   chan struct{} // closed with err set
	err    error
	cancel context.CancelFunc
	// retry: the attempt's context ended it well before a server timeout
	// (its caller's deadline or cancel, or close), which says nothing of
	// the server: a waiter dials again (or finds the client closed).
	retry bool
}

// conn returns the live connection, dialing if needed: one caller dials,
// without holding mu, and the others wait for it.
func (sc *serverConn) conn(ctx context.Context) (net.Conn, error) {
	for {
		sc.mu.Lock()
		if sc.nc != nil && len(sc.pending) == 0 && !sc.rd.alive() {
			sc.dropLocked(sc.nc, fmt.Errorf("connection closed by server: %w", syscall.ECONNRESET))
		}
		if nc := sc.nc; nc != nil {
			sc.mu.Unlock()
			return nc, nil
		}
		if sc.closed {
			sc.mu.Unlock()
			return nil, closedError{"client"}
		}
		if d := sc.dialing; d != nil {
			sc.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil && !d.retry {
				return nil, d.err
			}
			continue
		}
		dctx, cancel := context.WithCancel(ctx)
		d := &dialAttempt{done: make(chan struct{}), cancel: cancel}
		sc.dialing = d
		sc.mu.Unlock()

		start := time.Now()
		nc, h, err := sc.connect(dctx)
		// Before cancel below: the attempt ended by its context (its
		// caller's, or close's) well before a server's timeout, which
		// says nothing of the server. (A caller's deadline of about the
		// timeout, set a moment before the dial, ends it a moment short
		// of one: that is the server's failure too.)
		ownEnd := dctx.Err() != nil && time.Since(start) < sc.timeout/2
		cancel()

		sc.mu.Lock()
		sc.dialing = nil
		switch {
		case sc.closed:
			if err == nil {
				h.close(nc)
			}
			err = closedError{"client"}
		case err == nil:
			sc.installLocked(nc, h)
		}
		// A failure of the server's (its own timeouts, or a context that
		// ran out only after a whole timeout) is shared: waiters that
		// dialed again in turn would wait one after another. An attempt
		// its context cut short is not: waiters dial again.
		d.err, d.retry = err, err != nil && ownEnd
		close(d.done)
		sc.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return nc, nil
	}
}

// connected is what connect learned of a new connection, for
// installLocked: what its hello said, and its reply socket.
type connected struct {
	hello helloInfo
	out   *rawio.Writer
	pid   int
	local string
}

func (h *connected) close(nc net.Conn) {
	nc.Close()
	if h.out != nil {
		h.out.Close()
	}
}

// connect dials the server, says hello and splits off the reply socket,
// without touching sc's state: a context that ends meanwhile (the
// caller's, or close's) ends it, the hello too.
func (sc *serverConn) connect(ctx context.Context) (net.Conn, *connected, error) {
	nc, unixErr, err := sc.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The hello and the split wait on deadlines, not on ctx: a context
	// that ends closes the socket under them.
	dialed := nc // nc itself becomes the reply socket below
	stop := context.AfterFunc(ctx, func() { dialed.Close() })
	h := &connected{local: nc.LocalAddr().String(), pid: peerPid(nc)}
	fail := func(err error) (net.Conn, *connected, error) {
		stop()
		nc.Close()
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, nil, err
	}
	if sc.name != "" {
		if h.hello, err = sc.hello(ctx, nc, unixErr); err != nil {
			return fail(err)
		}
	}
	if uc, ok := nc.(*net.UnixConn); ok && sc.name != "" {
		in, w, err := sc.splitReplies(uc)
		if err != nil {
			return fail(err)
		}
		if w != nil { // uc went into in and w (splitReplies closed it)
			nc, h.out = in, w
		}
	}
	if !stop() {
		// ctx ended while the hello was done: the socket it closed may
		// be nc's old self; give up as the context says.
		h.close(nc)
		return nil, nil, ctx.Err()
	}
	return nc, h, nil
}

// installLocked makes nc, which connect made, the live connection.
func (sc *serverConn) installLocked(nc net.Conn, h *connected) {
	sc.local = h.local
	if sc.name != "" {
		sc.rdma, sc.passes, sc.refused, sc.rdmaKnown = h.hello.rdma, h.hello.passes, h.hello.refused, true
	}
	sc.nc, sc.out = nc, h.out
	sc.noLocal.Store(h.out == nil || !sc.passes)
	if sc.lane != nil {
		sc.lane(false)
	}
	if sc.lanePeer != nil {
		sc.lanePeer(h.pid)
	}
	sc.pending = make(map[uint64]*call)
	sc.rd = &replies{nc: nc, raw: rawio.New(nc), token: make(chan struct{}, 1)}
	var src io.Reader = nc
	if sc.rd.raw != nil {
		src = sc.rd.raw
	}
	sc.rd.br = bufio.NewReaderSize(src, 256<<10)
	sc.rd.last.Store(time.Now().UnixNano())
	sc.rd.token <- struct{}{}
}

// peerPid is the process at the other end of a Unix socket, as the kernel
// saw it at connect; 0 on other connections.
func peerPid(nc net.Conn) int {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return 0
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	rc.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}

// hello is the first exchange on every connection: it says who we are,
// gives the server our fabric address, and tells us whether the server
// shares our fabric and took our address.
// helloInfo is what a hello said of the server (installLocked sets it
// on the serverConn).
type helloInfo struct {
	rdma, passes bool
	refused      string // why the server did not take our fabric address
}

func (sc *serverConn) hello(ctx context.Context, nc net.Conn, unixErr error) (helloInfo, error) {
	var h helloInfo
	nc.SetDeadline(time.Now().Add(sc.timeout))
	defer nc.SetDeadline(time.Time{})
	req, err := sc.helloReq(ctx, nc)
	if err != nil {
		return h, fmt.Errorf("hello: %w", sc.versionErr(err))
	}
	var r proto.HelloResp
	if err := exchange(nc, proto.OpHello, req, &r); err != nil {
		return h, fmt.Errorf("hello: %w", err)
	}
	if r.ServerID != sc.id {
		return h, fmt.Errorf("hello: %s answers as server %d, the server list says %d: %w", sc.addr, r.ServerID, sc.id, syscall.EIO)
	}
	for _, mine := range sc.fabrics {
		for _, theirs := range r.Fabrics {
			if mine.Provider == theirs.Provider {
				h.rdma = true
			}
		}
	}
	h.passes = r.LocalReads
	if h.rdma && r.Refused != "" {
		// The bytes then travel on this connection: slower, never wrong.
		h.rdma = false
		h.refused = r.Refused
		if unixErr != nil {
			h.refused += fmt.Sprintf(" (the Unix socket %s: %v)", sc.socket, unixErr)
		}
		slog.Warn("ferry: server refused this client's fabric address; using sockets", "server", sc.id, "why", h.refused)
	}
	return h, nil
}

// rdmaState reports whether RMA is usable with this server, and whether
// that is known yet (it is after the first connection).
func (sc *serverConn) rdmaState() (ok, known bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.rdma, sc.rdmaKnown
}

func (sc *serverConn) refusedWhy() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.refused
}

func (sc *serverConn) localAddr() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.local
}

// fail drops the connection nc and fails every call waiting on it.
func (sc *serverConn) fail(nc net.Conn, err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.dropLocked(nc, err)
}

func (sc *serverConn) dropLocked(nc net.Conn, err error) {
	if sc.nc != nc {
		return
	}
	out := sc.out
	sc.nc, sc.rd, sc.out = nil, nil, nil
	pending := sc.pending
	sc.pending = nil
	nc.Close()
	if out != nil {
		out.Close()
	}
	for _, c := range pending {
		c.err = err
		close(c.done)
	}
}

// versionErr turns a frame of another protocol version into an error
// naming the server and both versions (EPROTONOSUPPORT); other errors
// pass unchanged.
func (sc *serverConn) versionErr(err error) error {
	var ve *proto.VersionError
	if !errors.As(err, &ve) {
		return err
	}
	return fmt.Errorf("server %s speaks protocol version %d, this client speaks %d: %w: %w",
		sc.addr, ve.Peer, proto.Version, proto.ErrVersion, syscall.EPROTONOSUPPORT)
}

// alive reports whether the connection may still be used: true when a
// reply came recently, else when a look at the socket (without waiting)
// finds it open and holding no bytes, since no reply is due. Call it
// under sc.mu with no call pending.
func (r *replies) alive() bool {
	if time.Since(time.Unix(0, r.last.Load())) < idleCheck {
		return true
	}
	sconn, ok := r.nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sconn.SyscallConn()
	if err != nil {
		return false
	}
	// The last reply's read deadline may have passed, and a passed
	// deadline would refuse the look; nothing else reads now.
	r.nc.SetReadDeadline(time.Time{})
	open := true
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: open and quiet. 0 bytes: closed by the server. Bytes
		// with no call pending: a frame nobody asked for.
		open = n < 0 && (err == syscall.EAGAIN || err == syscall.EINTR)
		return true
	})
	if err != nil {
		return false
	}
	if open {
		r.last.Store(time.Now().UnixNano())
	}
	return open
}

// await waits for c's reply on rd's connection, reading replies itself
// while it holds rd's token. The connection
// is dropped at the deadline, so no late reply can write into a
// caller's buffer after it returns.
func (sc *serverConn) await(rd *replies, c *call, deadline time.Time) {
	select {
	case <-rd.token: // the common case: nobody else is reading, and no timer
		sc.readHolding(rd, c, deadline)
		return
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-c.done:
	case <-rd.token:
		sc.readHolding(rd, c, deadline)
	case <-timer.C:
		sc.fail(rd.nc, fmt.Errorf("no reply within %v: %w", sc.timeout, syscall.ETIMEDOUT))
		<-c.done
	}
}

// readHolding reads until c's reply has come, unless the previous holder
// of rd's token read it, and passes the token on.
func (sc *serverConn) readHolding(rd *replies, c *call, deadline time.Time) {
	select {
	case <-c.done:
	default:
		sc.readUntil(rd, c, deadline)
	}
	rd.token <- struct{}{}
}

// readUntil reads reply frames from rd, handing each to its call, until
// c's has come or the connection fails (which fails every call on it).
func (sc *serverConn) readUntil(rd *replies, c *call, deadline time.Time) {
	nc := rd.nc
	nc.SetReadDeadline(deadline)
	for {
		if c.soon && sc.spin > 0 && rd.raw != nil && rd.br.Buffered() == 0 {
			rd.raw.Spin(sc.spin)
		}
		h, err := proto.ReadHeader(rd.br)
		if err != nil {
			err = sc.versionErr(err)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				err = fmt.Errorf("no reply within %v: %w", sc.timeout, syscall.ETIMEDOUT)
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				err = fmt.Errorf("connection closed by server: %w", syscall.ECONNRESET)
			}
			sc.fail(nc, err)
			return
		}
		sc.mu.Lock()
		if sc.nc != nc {
			// Dropped meanwhile (a waiter's timeout): every call on it,
			// c too, has its error.
			sc.mu.Unlock()
			return
		}
		rc := sc.pending[h.ID]
		delete(sc.pending, h.ID)
		sc.mu.Unlock()
		if rc == nil || !h.IsReply() {
			sc.fail(nc, fmt.Errorf("%w: unexpected frame %s id %d", proto.ErrMalformed, h.Op, h.ID))
			return
		}
		rd.last.Store(time.Now().UnixNano())
		rc.hdr = h
		body := io.LimitReader(rd.br, int64(h.BodyLen))
		switch {
		case h.Status != 0:
			b, rerr := io.ReadAll(body)
			if rerr != nil {
				rc.err = rerr
				break
			}
			var eb proto.ErrorBody
			msg := "(no message)"
			if proto.Unmarshal(b, &eb) == nil {
				msg = eb.Msg
			}
			rc.err = &RemoteError{Errno: syscall.Errno(h.Status), Msg: msg}
		case rc.sink != nil:
			rc.err = rc.sink(h, body)
		default:
			rc.body, rc.err = io.ReadAll(body)
		}
		// Whatever the sink left unread must go, or the stream is lost.
		if _, derr := io.Copy(io.Discard, body); derr != nil {
			close(rc.done)
			sc.fail(nc, derr)
			return
		}
		close(rc.done)
		if rc == c {
			return
		}
	}
}

// roundTrip sends one request (control message plus optional data
// buffers) and waits for its reply. The connection is dropped on timeout
// so no late reply can write into a caller's buffer after it returns.
// A ctx already done stops the request before it is sent.
func (sc *serverConn) roundTrip(ctx context.Context, op proto.Op, m proto.Message, data [][]byte, sink func(proto.Header, io.Reader) error) (*call, error) {
	if err := ctx.Err(); err != nil {
		return nil, sc.errorf(op.String(), err)
	}
	nc, err := sc.conn(ctx)
	if err != nil {
		return nil, sc.errorf(op.String(), err)
	}
	c := &call{done: make(chan struct{}), sink: sink}
	if r, ok := m.(*proto.IOReq); ok && r.Transport == proto.Inline && r.Total() <= smallReply {
		c.soon = true // a small read or write, which the server serves in its read loop
	}
	sc.mu.Lock()
	if sc.nc != nc { // failed between conn() and here
		sc.mu.Unlock()
		return nil, sc.errorf(op.String(), fmt.Errorf("connection lost: %w", syscall.ECONNRESET))
	}
	rd, out := sc.rd, sc.out
	c.out = out
	sc.nextID++
	id := sc.nextID
	sc.pending[id] = c
	sc.mu.Unlock()

	if r, ok := m.(*proto.IOReq); ok && r.Transport == proto.RDMA && sc.busy != nil {
		// The server's RMAs, overestimated: one per extent, one per
		// 256 KiB (its chunk_size is 1 MiB unless configured smaller),
		// and one more.
		defer sc.busy(len(r.Extents) + int(r.Total()>>18) + 1)()
	}
	var frame []byte
	var dataLen int
	if data != nil {
		for _, d := range data {
			dataLen += len(d)
		}
		frame = proto.AppendDataFrame(nil, proto.Header{Op: op, ID: id}, m, dataLen)
	} else {
		frame = proto.Frame(proto.Header{Op: op, ID: id}, m)
	}
	var one [1][]byte // a control message alone: no slice to allocate
	bufs := append(one[:0], frame)
	bufs = append(bufs, data...)
	sc.wmu.Lock()
	var werr error
	switch {
	case out != nil:
		out.SetWriteDeadline(time.Now().Add(sc.timeout))
		werr = out.Writev(bufs...)
	case rd.raw != nil:
		nc.SetWriteDeadline(time.Now().Add(sc.timeout))
		werr = rd.raw.Writev(bufs...)
	default:
		nc.SetWriteDeadline(time.Now().Add(sc.timeout))
		// A copy: net.Buffers would make bufs escape on every call.
		nb := net.Buffers(append([][]byte(nil), bufs...))
		_, werr = nb.WriteTo(nc)
	}
	sc.wmu.Unlock()
	if werr != nil {
		sc.fail(nc, werr)
		<-c.done
		return nil, sc.errorf(op.String(), werr)
	}

	sc.await(rd, c, time.Now().Add(sc.timeout))
	// A cancelled ctx does not abandon a call in flight: its reply may be
	// writing into the caller's buffer, and other callers share the
	// connection. The timeout bounds the wait.
	if c.err != nil {
		return nil, sc.errorf(op.String(), c.err)
	}
	if r, ok := m.(*proto.IOReq); ok && r.Transport == proto.RDMA && sc.lane != nil {
		sc.lane(true)
	}
	return c, nil
}

// control sends a control request and decodes the reply into resp.
func (sc *serverConn) control(ctx context.Context, op proto.Op, req, resp proto.Message) error {
	c, err := sc.roundTrip(ctx, op, req, nil, nil)
	if err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	if err := proto.Unmarshal(c.body, resp); err != nil {
		return sc.errorf(op.String(), err)
	}
	return nil
}

func (sc *serverConn) close() {
	sc.mu.Lock()
	nc := sc.nc
	sc.closed = true
	if sc.dialing != nil {
		sc.dialing.cancel() // its dialer and waiters then find sc closed
	}
	sc.mu.Unlock()
	if nc != nil {
		sc.fail(nc, net.ErrClosed)
	}
}
