package ioserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/errno"
	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/ioserver/data"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// conn is one client connection. It reads frames in order, runs each
// request in its own goroutine (up to maxInFlight), and writes one reply
// frame at a time.
type conn struct {
	s     *Server
	nc    net.Conn
	raw   *rawio.Conn // nc by raw system calls; nil where nc has no descriptor
	host  string
	wmu   sync.Mutex // one reply frame at a time
	slots chan struct{}
	wg    sync.WaitGroup
	last  atomic.Int64 // unix ns of the last frame's start or request's end

	pmu   sync.Mutex
	peers map[string]verbs.Peer // the client's fabric address, by provider

	// out, once the client has asked for one (OpReplySocket), is the
	// socket replies go out on instead of nc. Set under wmu; close reads
	// it without (a reply may hold wmu while it waits for room).
	out      atomic.Pointer[rawio.Writer]
	outAsked atomic.Bool // the client asked for its reply socket (once)
	fdmu     sync.Mutex  // one datafile descriptor at a time on nc (passDatafile)

	cred  *unix.Ucred // the peer process, for Unix socket connections
	amu   sync.Mutex
	id    *ident // nil until a hello authenticates the connection
	nonce []byte // the challenge the next hello's credential answers
}

// idleFor is how long the connection has had nothing in flight (0 when
// something is).
func (c *conn) idleFor(now time.Time) time.Duration {
	if len(c.slots) > 0 {
		return 0
	}
	return now.Sub(time.Unix(0, c.last.Load()))
}

func (c *conn) readLoop(ctx context.Context) {
	defer func() {
		c.wg.Wait()
		c.close()
		c.releaseFabrics()
	}()
	peer := c.nc.RemoteAddr().String()
	in := &frameIn{nc: c.nc, src: c.nc}
	if c.raw != nil {
		in.src = c.raw
		in.poll = newNextPoll(c.raw, c.s.spinWait, c.s.pollers)
	}
	defer in.release()
	busy := func() bool { return len(c.slots) > 0 }
	for {
		h, err := in.header(c.s.limits.idle, c.s.timeout, busy)
		var ve *proto.VersionError
		if errors.As(err, &ve) {
			c.refuseVersion(peer, ve)
			return
		}
		if err != nil {
			switch {
			case errors.Is(err, errIdle):
				c.s.stats.Add("conn.idle_closed", 1)
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil:
				c.s.log.Warn("dropping connection", "peer", peer, "err", err)
				c.s.stats.Add("conn.dropped", 1)
			}
			return
		}
		c.last.Store(time.Now().UnixNano())
		if h.IsReply() {
			c.s.log.Warn("dropping connection: client sent a reply frame", "peer", peer, "op", h.Op)
			return
		}
		// The header is in (its read set a deadline of one timeout): the
		// body must follow as promptly.
		c.slots <- struct{}{}
		if h.Op == proto.OpWrite {
			// The bytes to write follow on the stream: handle in line.
			err := c.handleWrite(ctx, h, in)
			c.done()
			if err != nil {
				c.s.log.Warn("dropping connection", "peer", peer, "err", err)
				return
			}
			continue
		}
		body, err := proto.ReadBody(in, h)
		if err != nil {
			c.done()
			c.s.log.Warn("dropping connection", "peer", peer, "err", err)
			return
		}
		if h.Op == proto.OpRead {
			// Decoded once here: a read that is the connection's
			// only request is served in this loop (no goroutine
			// hand-off, which was most of a 4 KiB read's latency, 25
			// µs of a 256 KiB one's, and a third of a 16 KiB RDMA
			// read's once the post no longer went through the fabric
			// owner); a read that finds others in flight gets a
			// goroutine of its own, and the connection's next request
			// is read while it runs.
			var req proto.IOReq
			if err := proto.Unmarshal(body, &req); err == nil {
				if len(c.slots) == 1 && !in.buffered() {
					c.serveRead(ctx, h, &req)
					c.done()
					continue
				}
				c.wg.Add(1)
				go func() {
					defer func() { c.done(); c.wg.Done() }()
					c.serveRead(ctx, h, &req)
				}()
				continue
			}
		}
		c.wg.Add(1)
		go func() {
			defer func() { c.done(); c.wg.Done() }()
			c.handle(ctx, h, body)
		}()
	}
}

// serveRead serves a decoded read request, counted as handle counts.
func (c *conn) serveRead(ctx context.Context, h proto.Header, req *proto.IOReq) {
	defer c.s.stats.observe(h.Op, time.Now())
	c.s.stats.AddJoined("op.", h.Op.String(), 1)
	if _, err := read(ctx, c, h, req); err != nil && !errors.Is(err, errReplied) {
		c.replyErr(h, err)
	}
}

// done ends one request's hold on a slot.
func (c *conn) done() {
	c.last.Store(time.Now().UnixNano())
	<-c.slots
}

// handle runs one control request by the handler table and replies.
func (c *conn) handle(ctx context.Context, h proto.Header, body []byte) {
	defer c.s.stats.observe(h.Op, time.Now())
	c.s.stats.AddJoined("op.", h.Op.String(), 1)
	run, ok := handlers[h.Op]
	if !ok {
		c.replyErr(h, fmt.Errorf("opcode %s is not a request: %w", h.Op, unix.EINVAL))
		return
	}
	resp, err := run(ctx, c, h, body)
	switch {
	case errors.Is(err, errReplied):
	case err != nil:
		c.replyErr(h, err)
	default:
		c.reply(h, resp)
	}
}

// close closes the connection and its reply socket: the read loop ends,
// and a reply being written fails at once.
func (c *conn) close() {
	c.nc.Close()
	if out := c.out.Load(); out != nil {
		out.Close()
	}
}

// replyConn is where replies go: the connection, or its reply socket.
type replyConn = data.Sink

// send writes one reply frame under the connection's write lock.
func (c *conn) send(write func(w replyConn) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var w replyConn = c.nc
	deadline := time.Now().Add(c.s.timeout)
	if out := c.out.Load(); out != nil {
		w = out
		out.SetWriteDeadline(deadline)
	} else {
		c.nc.SetWriteDeadline(deadline)
	}
	if err := write(w); err != nil {
		c.close() // a half-written frame leaves the stream unusable
		return err
	}
	return nil
}

func (c *conn) reply(h proto.Header, m proto.Message) {
	frame := proto.Frame(replyHeader(h), m)
	if err := c.send(func(w replyConn) error { return c.writev(w, frame) }); err != nil {
		c.s.log.Debug("reply failed", "op", h.Op, "err", err)
	}
}

// replySocket answers OpReplySocket: the server makes a socket pair,
// passes one end to the client with the reply (SCM_RIGHTS, on the
// connection), and writes every later reply on the other, outside the
// poller (rawio.Writer says why). The client reads replies there and
// writes requests here, with its end of this connection out of its own
// poller. Only on a Unix socket, where the client is a process on this
// host; once per connection. The server makes the pair itself, so there
// is no socket of the client's to check.
func (c *conn) replySocket(h proto.Header) error {
	if c.cred == nil {
		return fmt.Errorf("a reply socket is passed on Unix socket connections only: %w", unix.EINVAL)
	}
	uc, ok := c.nc.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("a reply socket needs a Unix socket connection, have %T: %w", c.nc, unix.EINVAL)
	}
	// Asked before the pair is made: a client repeating the request (up
	// to its requests in flight) costs no descriptors.
	if c.outAsked.Swap(true) {
		return fmt.Errorf("this connection has asked for its reply socket already: %w", unix.EINVAL)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("reply socket: %w", err)
	}
	defer unix.Close(fds[1]) // the client's end: passed, then ours closed
	out, err := rawio.NewWriter(fds[0])
	if err != nil {
		return fmt.Errorf("reply socket: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	uc.SetWriteDeadline(time.Now().Add(c.s.timeout))
	frame := proto.Frame(replyHeader(h), &proto.Empty{})
	n, _, err := uc.WriteMsgUnix(frame, unix.UnixRights(fds[1]), nil)
	if err == nil && n < len(frame) {
		_, err = uc.Write(frame[n:])
	}
	if err != nil {
		out.Close()
		c.nc.Close()
		return fmt.Errorf("reply socket: %w: %w", err, errReplied)
	}
	c.out.Store(out)
	c.s.stats.Add("conn.reply_socket", 1)
	return errReplied
}

func (c *conn) replyErr(h proto.Header, err error) {
	if errors.Is(err, data.ErrPeerDropped) {
		if c.s.closing.Load() { // the server's own shutdown dropped the peer
			c.s.log.Debug("transfer ended by the shutdown", "peer", c.nc.RemoteAddr().String(), "err", err)
			c.close()
			return
		}
		// The client stopped completing transfers and left the address
		// vector; it gets no more of the server's time on this
		// connection, and reconnects (with a new hello) if it is alive.
		c.s.stats.Add("conn.dropped.stalled", 1)
		c.s.log.Warn("dropping a client that stalled its transfers", "peer", c.nc.RemoteAddr().String(), "err", err)
		c.close()
		return
	}
	rh := replyHeader(h)
	rh.Status = int32(errno.Of(err))
	c.s.stats.Add("errors."+errnoName(syscall.Errno(rh.Status)), 1)
	msg := err.Error()
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	frame := proto.Frame(rh, &proto.ErrorBody{Msg: msg})
	if serr := c.send(func(w replyConn) error { _, err := w.Write(frame); return err }); serr != nil {
		c.s.log.Debug("error reply failed", "op", h.Op, "err", serr)
	}
}

// writev writes bufs to w in one system call where it can.
func (c *conn) writev(w replyConn, bufs ...[]byte) error {
	if out, ok := w.(*rawio.Writer); ok {
		return out.Writev(bufs...)
	}
	if c.raw != nil {
		return c.raw.Writev(bufs...)
	}
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(w)
	return err
}

// refuseVersion answers a client of another protocol version before
// dropping it: an error reply in this server's version, whose header
// alone (the part every version parses the same way) makes the client
// report both versions, and whose message names them for a client that
// reads on.
func (c *conn) refuseVersion(peer string, ve *proto.VersionError) {
	msg := fmt.Sprintf("server %d speaks protocol version %d, client speaks %d", c.s.id, proto.Version, ve.Peer)
	if c.s.version != "" {
		msg += " (server is ferry " + c.s.version + ")"
	}
	c.s.log.Warn("refusing client of another protocol version", "peer", peer, "client_version", ve.Peer, "server_version", proto.Version)
	c.s.stats.Add("conn.dropped", 1)
	frame := proto.Frame(proto.Header{Flags: proto.FlagReply, Op: proto.OpHello, Status: int32(unix.EPROTONOSUPPORT)}, &proto.ErrorBody{Msg: msg})
	c.send(func(w replyConn) error { _, err := w.Write(frame); return err })
}

func replyHeader(h proto.Header) proto.Header {
	return proto.Header{Flags: proto.FlagReply, Op: h.Op, ID: h.ID}
}

// replyRoom holds a read reply's frame up to its data in one allocation
// (header, length prefix, a ReadResp of a few extents).
const replyRoom = proto.HeaderSize + 128

// replyRead answers a read with what the data service moved; inline bytes
// follow the reply's control part in the same frame. An error means the
// connection is closed.
func (c *conn) replyRead(h proto.Header, req *proto.IOReq, r data.Result) error {
	fj, _ := req.Layout.FileServer(c.s.id)
	resp := &proto.ReadResp{LogicalEnd: req.Layout.LogicalEnd(fj, r.Size), Lens: r.Lens, Strategy: r.Strategy}
	if r.Small != nil {
		defer r.Release()
		frame := proto.AppendDataFrame(make([]byte, 0, replyRoom), replyHeader(h), resp, len(r.Small))
		return c.send(func(w replyConn) error { return c.writev(w, frame, r.Small) })
	}
	if r.Inline == nil {
		c.reply(h, resp)
		return nil
	}
	return c.send(func(w replyConn) error {
		if _, err := w.Write(proto.AppendDataFrame(make([]byte, 0, replyRoom), replyHeader(h), resp, int(r.Bytes))); err != nil {
			return err
		}
		return r.Inline(w)
	})
}

// handleWrite reads a write request's control part and, for inline data,
// its bytes from the stream. It returns an error only when the stream can
// no longer be trusted and the connection must close.
func (c *conn) handleWrite(ctx context.Context, h proto.Header, br io.Reader) error {
	s := c.s
	start := time.Now()
	s.stats.Add("op.write", 1)
	body := &io.LimitedReader{R: br, N: int64(h.BodyLen)}
	ctl, n, err := proto.ReadDataControl(body, h)
	if err != nil {
		c.replyErr(h, err)
		return err // the body length is not trustworthy
	}
	// fail answers with err after skipping the frame's data, so the next
	// frame starts where it should; a stream that cannot be read to the
	// frame's end closes the connection.
	fail := func(err error) error {
		if _, derr := io.Copy(io.Discard, body); derr != nil {
			return fmt.Errorf("write request: %w", derr)
		}
		if body.N > 0 {
			return fmt.Errorf("write request: %w", io.ErrUnexpectedEOF)
		}
		c.replyErr(h, err)
		return nil
	}
	var req proto.IOReq
	if err := proto.Unmarshal(ctl, &req); err != nil {
		return fail(err)
	}
	if _, err := s.fileServer(req.Handle, req.Layout); err != nil {
		return fail(err)
	}
	if err := s.check(c.caller(), req.Handle, &req.Cap, proto.RightWrite); err != nil {
		return fail(err)
	}
	if req.Transport == proto.RDMA {
		if n != 0 {
			return fail(fmt.Errorf("%w: RDMA write frame carries %d data bytes", proto.ErrMalformed, n))
		}
		link, err := c.link(req.Provider)
		if err != nil {
			c.replyErr(h, err)
			return nil
		}
		// The bytes come over the fabric: serve it beside the stream.
		c.slots <- struct{}{}
		c.wg.Add(1)
		go func() {
			defer func() { c.done(); c.wg.Done() }()
			defer s.stats.observe(h.Op, start)
			r, err := s.data.Write(ctx, &req, link, nil)
			if err != nil {
				c.replyErr(h, err)
				return
			}
			s.countTransport("write", &req, r.Bytes)
			c.reply(h, &proto.Int{V: r.Bytes})
		}()
		return nil
	}
	if req.Total() != n {
		return fail(fmt.Errorf("%w: extents total %d bytes, frame carries %d", proto.ErrMalformed, req.Total(), n))
	}
	defer s.stats.observe(h.Op, start)
	r, err := s.data.Write(ctx, &req, data.Link{}, body)
	if err != nil {
		return fail(err)
	}
	s.countTransport("write", &req, r.Bytes)
	c.reply(h, &proto.Int{V: r.Bytes})
	return nil
}

// countTransport counts a read's or write's request and bytes by the way
// its bytes moved: the fabric provider, or inline.
func (s *Server) countTransport(dir string, req *proto.IOReq, n int64) {
	p := "inline"
	if req.Transport == proto.RDMA {
		p = req.Provider
	}
	reqs, bytes := "write.transport_requests.", "write.transport_bytes."
	if dir == "read" {
		reqs, bytes = "read.transport_requests.", "read.transport_bytes."
	}
	s.stats.AddJoined(reqs, p, 1)
	s.stats.AddJoined(bytes, p, n)
}

// errnoName is an errno's symbol (ENOENT), or its number.
func errnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno%d", int(e))
}
