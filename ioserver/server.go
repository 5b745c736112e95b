package ioserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// MaxInFlight bounds the requests one connection may have in progress;
// past it the server stops reading that connection (back-pressure).
const MaxInFlight = 64

// Options configure a server.
type Options struct {
	Config *config.Config
	ID     int
	Logger *slog.Logger
}

// Server is one I/O server.
type Server struct {
	cfg             *config.Config
	id              int
	self            config.Server
	log             *slog.Logger
	store           *Storage
	meta            *Meta // nil unless this server runs the metadata service
	defaultStrategy string
	stats           counters
	timeout         time.Duration
	fabrics         []*fabric
	maps            *mapCache

	mu    sync.Mutex
	ln    net.Listener
	conns map[*conn]struct{}
	wg    sync.WaitGroup
}

// New opens the server's storage (and metadata store) but does not listen.
func New(opts Options) (*Server, error) {
	cfg := opts.Config
	if opts.ID < 0 || opts.ID >= len(cfg.Servers) {
		return nil, fmt.Errorf("server id %d is not in the config (0..%d)", opts.ID, len(cfg.Servers)-1)
	}
	self := cfg.Servers[opts.ID]
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("server", opts.ID)
	strategy := self.Strategy
	if strategy == "" {
		strategy = "auto"
	}
	if err := CheckStrategy(strategy); err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	if err := os.MkdirAll(self.Storage, 0o700); err != nil {
		return nil, fmt.Errorf("server %d: storage %s: %w", opts.ID, self.Storage, err)
	}
	store, err := openStorage(self.Storage)
	if err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	s := &Server{cfg: cfg, id: opts.ID, self: self, log: log, store: store, defaultStrategy: strategy,
		timeout: cfg.Timeout.Duration, conns: make(map[*conn]struct{}), maps: newMapCache(256)}
	if err := s.openFabrics(); err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	if opts.ID == cfg.MetadataServer {
		s.meta, err = openMeta(filepath.Join(self.Storage, "meta.db"), len(cfg.Servers), cfg.StripSize, cfg.StripCount)
		if err != nil {
			s.closeFabrics()
			return nil, fmt.Errorf("server %d: %w", opts.ID, err)
		}
	}
	return s, nil
}

// Listen binds the configured address.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.self.Address)
	if err != nil {
		return nil, fmt.Errorf("server %d: listen on %s: %w", s.id, s.self.Address, err)
	}
	return ln, nil
}

// Serve accepts connections until ctx is done or Close is called.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	s.log.Info("serving", "address", ln.Addr().String(), "storage", s.self.Storage,
		"metadata", s.meta != nil, "strategy", s.defaultStrategy)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("server %d: accept: %w", s.id, err)
		}
		c := &conn{s: s, nc: nc, slots: make(chan struct{}, MaxInFlight)}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.readLoop(ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection, waits for handlers and
// closes the stores.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.maps.close()
	s.closeFabrics()
	if s.meta != nil {
		return s.meta.Close()
	}
	return nil
}

// conn is one client connection.
type conn struct {
	s     *Server
	nc    net.Conn
	wmu   sync.Mutex // one reply frame at a time
	slots chan struct{}
	wg    sync.WaitGroup

	pmu   sync.Mutex
	peers map[string]verbs.Peer // the client's fabric address, by provider
}

func (c *conn) peer(provider string) (verbs.Peer, bool) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	p, ok := c.peers[provider]
	return p, ok
}

func (c *conn) readLoop(ctx context.Context) {
	defer func() {
		c.wg.Wait()
		c.nc.Close()
	}()
	peer := c.nc.RemoteAddr().String()
	br := bufio.NewReaderSize(c.nc, 256<<10)
	for {
		c.nc.SetReadDeadline(time.Time{}) // idle connections may wait forever
		h, err := proto.ReadHeader(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				c.s.log.Warn("dropping connection", "peer", peer, "err", err)
				c.s.stats.add("conn.dropped", 1)
			}
			return
		}
		if h.IsReply() {
			c.s.log.Warn("dropping connection: client sent a reply frame", "peer", peer, "op", h.Op)
			return
		}
		// Once a header is in, its body must follow promptly.
		c.nc.SetReadDeadline(time.Now().Add(c.s.timeout))
		c.slots <- struct{}{}
		if h.Op == proto.OpWrite {
			// The bytes to write follow on the stream: handle in line.
			err := c.handleWrite(ctx, h, br)
			<-c.slots
			if err != nil {
				c.s.log.Warn("dropping connection", "peer", peer, "err", err)
				return
			}
			continue
		}
		body, err := proto.ReadBody(br, h)
		if err != nil {
			<-c.slots
			c.s.log.Warn("dropping connection", "peer", peer, "err", err)
			return
		}
		c.wg.Add(1)
		go func() {
			defer func() { <-c.slots; c.wg.Done() }()
			c.handle(ctx, h, body)
		}()
	}
}

// send writes one reply frame under the connection's write lock.
func (c *conn) send(write func(w net.Conn) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.s.timeout))
	if err := write(c.nc); err != nil {
		c.nc.Close() // a half-written frame leaves the stream unusable
		return err
	}
	return nil
}

func (c *conn) reply(h proto.Header, m proto.Message) {
	rh := proto.Header{Flags: proto.FlagReply, Op: h.Op, ID: h.ID}
	frame := proto.Frame(rh, m)
	if err := c.send(func(w net.Conn) error { _, err := w.Write(frame); return err }); err != nil {
		c.s.log.Debug("reply failed", "op", h.Op, "err", err)
	}
}

func (c *conn) replyErr(h proto.Header, err error) {
	c.s.stats.add("errors", 1)
	rh := proto.Header{Flags: proto.FlagReply, Op: h.Op, ID: h.ID, Status: int32(errnoOf(err))}
	msg := err.Error()
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	frame := proto.Frame(rh, &proto.ErrorBody{Msg: msg})
	if serr := c.send(func(w net.Conn) error { _, err := w.Write(frame); return err }); serr != nil {
		c.s.log.Debug("error reply failed", "op", h.Op, "err", serr)
	}
}

// errnoOf maps an error to the errno that travels in the reply status.
func errnoOf(err error) syscall.Errno {
	var en syscall.Errno
	switch {
	case errors.As(err, &en):
		return en
	case errors.Is(err, proto.ErrTooLarge):
		return unix.E2BIG
	case errors.Is(err, proto.ErrMalformed):
		return unix.EBADMSG
	case errors.Is(err, context.DeadlineExceeded):
		return unix.ETIMEDOUT
	case errors.Is(err, errNotMeta):
		return unix.EREMOTE
	default:
		return unix.EIO
	}
}

// handle runs one control request and replies.
func (c *conn) handle(ctx context.Context, h proto.Header, body []byte) {
	c.s.stats.add("op."+h.Op.String(), 1)
	resp, err := c.dispatch(ctx, h, body)
	if err != nil {
		c.replyErr(h, err)
		return
	}
	if resp != nil {
		c.reply(h, resp)
	}
}

func decode[T any, P interface {
	*T
	proto.Message
}](body []byte) (P, error) {
	m := P(new(T))
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, err
	}
	return m, nil
}

// dispatch decodes and runs a control request. A nil message with a nil
// error means the handler replied itself.
func (c *conn) dispatch(ctx context.Context, h proto.Header, body []byte) (proto.Message, error) {
	s := c.s
	needMeta := func() error {
		if s.meta == nil {
			return fmt.Errorf("%s: %w (metadata server is %d)", h.Op, errNotMeta, s.cfg.MetadataServer)
		}
		return nil
	}
	switch h.Op {
	case proto.OpHello:
		req, err := decode[proto.HelloReq](body)
		if err != nil {
			return nil, err
		}
		c.connectFabrics(req)
		return s.hello(), nil
	case proto.OpStats:
		st := s.stats.snapshot()
		for _, f := range s.fabrics {
			st.Names = append(st.Names, "pool.waits."+f.ep.Provider(), "pool.buffers."+f.ep.Provider())
			st.Values = append(st.Values, f.pool.waits.Load(), int64(cap(f.pool.free)))
		}
		return st, nil
	case proto.OpRead:
		req, err := decode[proto.IOReq](body)
		if err != nil {
			return nil, err
		}
		return c.handleRead(ctx, h, req)
	case proto.OpSize:
		req, err := decode[proto.DataReq](body)
		if err != nil {
			return nil, err
		}
		j, err := s.fileServer(req.Handle, req.Layout)
		if err != nil {
			return nil, err
		}
		size, mtime, err := s.store.Size(req.Handle)
		if err != nil {
			return nil, err
		}
		return &proto.SizeResp{LocalSize: size, LogicalEnd: req.Layout.LogicalEnd(j, size), Mtime: mtime}, nil
	case proto.OpTruncate:
		req, err := decode[proto.TruncateReq](body)
		if err != nil {
			return nil, err
		}
		j, err := s.fileServer(req.Handle, req.Layout)
		if err != nil {
			return nil, err
		}
		unlock := s.maps.lock(req.Handle, true)
		defer unlock()
		s.maps.invalidate(req.Handle)
		return &proto.Empty{}, s.store.Truncate(req.Handle, req.Layout.LocalSize(j, req.Size))
	case proto.OpFsync:
		req, err := decode[proto.DataReq](body)
		if err != nil {
			return nil, err
		}
		return &proto.Empty{}, s.store.Fsync(req.Handle)
	case proto.OpRemove:
		req, err := decode[proto.DataReq](body)
		if err != nil {
			return nil, err
		}
		unlock := s.maps.lock(req.Handle, true)
		defer unlock()
		s.maps.invalidate(req.Handle)
		return &proto.Empty{}, s.store.Remove(req.Handle)
	}
	if err := needMeta(); err != nil {
		return nil, err
	}
	switch h.Op {
	case proto.OpLookup:
		req, err := decode[proto.PathReq](body)
		if err != nil {
			return nil, err
		}
		return nilIfErr(s.meta.Lookup(req.Path))
	case proto.OpCreate:
		req, err := decode[proto.CreateReq](body)
		if err != nil {
			return nil, err
		}
		return nilIfErr(s.meta.Create(req))
	case proto.OpMkdir:
		req, err := decode[proto.CreateReq](body)
		if err != nil {
			return nil, err
		}
		return nilIfErr(s.meta.Mkdir(req))
	case proto.OpRmdir:
		req, err := decode[proto.PathReq](body)
		if err != nil {
			return nil, err
		}
		return &proto.Empty{}, s.meta.Rmdir(req.Path)
	case proto.OpUnlink:
		req, err := decode[proto.PathReq](body)
		if err != nil {
			return nil, err
		}
		return nilIfErr(s.meta.Unlink(req.Path))
	case proto.OpRename:
		req, err := decode[proto.RenameReq](body)
		if err != nil {
			return nil, err
		}
		return nilIfErr(s.meta.Rename(req.Old, req.New))
	case proto.OpReaddir:
		req, err := decode[proto.ReaddirReq](body)
		if err != nil {
			return nil, err
		}
		return nilIfErr(s.meta.Readdir(req.Path, req.After, req.Max))
	case proto.OpSetAttr:
		req, err := decode[proto.SetAttrReq](body)
		if err != nil {
			return nil, err
		}
		return nilIfErr(s.meta.SetAttr(req))
	case proto.OpFetchAdd:
		req, err := decode[proto.FetchAddReq](body)
		if err != nil {
			return nil, err
		}
		old, err := s.meta.FetchAdd(req.Handle, req.Delta, req.Set)
		return &proto.Int{V: old}, err
	}
	return nil, fmt.Errorf("opcode %s is not a request: %w", h.Op, unix.EINVAL)
}

func nilIfErr[P proto.Message](m P, err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Server) hello() *proto.HelloResp {
	r := &proto.HelloResp{ServerID: s.id, MetaServer: s.cfg.MetadataServer, DefaultStrip: s.cfg.StripSize,
		DefaultCount: s.cfg.StripCount, Strategy: s.defaultStrategy}
	for _, sv := range s.cfg.Servers {
		r.Servers = append(r.Servers, sv.Address)
	}
	for _, f := range s.fabrics {
		r.Fabrics = append(r.Fabrics, proto.Fabric{Provider: f.ep.Provider(), Addr: f.ep.Address()})
	}
	return r
}

// connectFabrics inserts the client's fabric addresses in the server's
// address vectors, for the providers both sides have.
func (c *conn) connectFabrics(req *proto.HelloReq) {
	for _, cf := range req.Fabrics {
		f := c.s.fabric(cf.Provider)
		if f == nil {
			continue
		}
		p, err := f.ep.Connect(cf.Addr)
		if err != nil {
			c.s.log.Warn("client fabric address refused", "provider", cf.Provider, "client", req.Client, "err", err)
			continue
		}
		c.pmu.Lock()
		if c.peers == nil {
			c.peers = make(map[string]verbs.Peer)
		}
		c.peers[cf.Provider] = p
		c.pmu.Unlock()
	}
}

// prepareRDMA fills in the job's fabric and peer for an RDMA request.
func (c *conn) prepareRDMA(j *Job) error {
	f := c.s.fabric(j.Req.Provider)
	if f == nil {
		return fmt.Errorf("this server has no %q fabric: %w", j.Req.Provider, unix.EOPNOTSUPP)
	}
	p, ok := c.peer(j.Req.Provider)
	if !ok {
		return fmt.Errorf("client sent no %q address in its hello: %w", j.Req.Provider, unix.ENOTCONN)
	}
	j.Fabric, j.Peer = f, p
	return nil
}

// pick returns the strategy for a data request.
func (s *Server) pick(req *proto.IOReq) (Strategy, error) {
	if req.Transport == proto.Inline {
		return socketsStrategy{}, nil
	}
	name := req.Strategy
	if name == "" {
		name = s.defaultStrategy
	}
	if err := CheckStrategy(name); err != nil {
		return nil, fmt.Errorf("%v: %w", err, unix.EINVAL)
	}
	if name == "sockets" {
		return nil, fmt.Errorf("strategy sockets moves no bytes by RMA; send the request inline: %w", unix.EINVAL)
	}
	return s.strategy(name), nil
}

// fileServer checks that the layout fits this file system and puts strips
// on this server, and returns this server's index within the file.
func (s *Server) fileServer(handle string, l layout.Layout) (int, error) {
	j, ok := l.FileServer(s.id)
	if !ok {
		return 0, fmt.Errorf("file %s has no strips on server %d: %w", handle, s.id, unix.EINVAL)
	}
	return j, nil
}

func (s *Server) checkLayout(req *proto.IOReq) error {
	if req.Layout.Total != len(s.cfg.Servers) {
		return fmt.Errorf("layout names %d servers, this file system has %d: %w", req.Layout.Total, len(s.cfg.Servers), unix.EINVAL)
	}
	_, err := s.fileServer(req.Handle, req.Layout)
	return err
}

func (c *conn) handleRead(ctx context.Context, h proto.Header, req *proto.IOReq) (proto.Message, error) {
	s := c.s
	if err := s.checkLayout(req); err != nil {
		return nil, err
	}
	st, err := s.pick(req)
	if err != nil {
		return nil, err
	}
	j := &Job{Req: req, Header: h, conn: c}
	if req.Transport == proto.RDMA {
		if err := c.prepareRDMA(j); err != nil {
			return nil, err
		}
	}
	f, err := s.store.Open(req.Handle, false)
	if err != nil {
		return nil, err
	}
	j.File = f
	if f != nil {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("stat datafile %s: %w", req.Handle, err)
		}
		j.Size = st.Size()
	}
	fj, _ := req.Layout.FileServer(s.id)
	j.resp.LogicalEnd = req.Layout.LogicalEnd(fj, j.Size)
	j.Lens = make([]int64, len(req.Extents))
	var total int64
	for i, x := range req.Extents {
		j.Lens[i] = max(0, min(x.Len, j.Size-x.Local))
		total += j.Lens[i]
	}
	s.stats.add("read.requests."+st.Name(), 1)
	if total > 0 || req.Transport == proto.Inline {
		if err := st.Read(ctx, j); err != nil {
			if j.Replied {
				return nil, nil // the connection is closed; nothing more to say
			}
			return nil, fmt.Errorf("read %s by %s: %w", req.Handle, st.Name(), err)
		}
	}
	s.stats.add("read.bytes."+st.Name(), total)
	if j.Replied {
		return nil, nil
	}
	j.resp.Lens = j.Lens
	j.resp.Strategy = st.Name()
	return &j.resp, nil
}

// handleWrite reads a write request's control part and, for inline data,
// its bytes from the stream. It returns an error only when the stream can
// no longer be trusted and the connection must close.
func (c *conn) handleWrite(ctx context.Context, h proto.Header, br *bufio.Reader) error {
	s := c.s
	s.stats.add("op.write", 1)
	body := io.LimitReader(br, int64(h.BodyLen))
	var lenb [4]byte
	if _, err := io.ReadFull(body, lenb[:]); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	n, err := proto.ControlLen(lenb[:], h.BodyLen)
	if err != nil {
		c.replyErr(h, err)
		return err // the body length is not trustworthy
	}
	ctl := make([]byte, n)
	if _, err := io.ReadFull(body, ctl); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	data := int64(h.BodyLen) - 4 - int64(n)
	fail := func(err error) error {
		// Skip the data so the next frame starts where it should.
		if _, derr := io.Copy(io.Discard, body); derr != nil {
			return derr
		}
		c.replyErr(h, err)
		return nil
	}
	var req proto.IOReq
	if err := proto.Unmarshal(ctl, &req); err != nil {
		return fail(err)
	}
	if err := s.checkLayout(&req); err != nil {
		return fail(err)
	}
	st, err := s.pick(&req)
	if err != nil {
		return fail(err)
	}
	if req.Transport == proto.RDMA {
		if data != 0 {
			return fail(fmt.Errorf("%w: RDMA write frame carries %d data bytes", proto.ErrMalformed, data))
		}
		// The bytes come over the fabric: serve it beside the stream.
		j := &Job{Req: &req, Header: h, conn: c}
		if err := c.prepareRDMA(j); err != nil {
			c.replyErr(h, err)
			return nil
		}
		c.slots <- struct{}{}
		c.wg.Add(1)
		go func() {
			defer func() { <-c.slots; c.wg.Done() }()
			if err := c.rdmaWrite(ctx, j, st); err != nil {
				c.replyErr(h, err)
				return
			}
			c.reply(h, &proto.Int{V: req.Total()})
		}()
		return nil
	}
	if req.Total() != data {
		return fail(fmt.Errorf("%w: extents total %d bytes, frame carries %d", proto.ErrMalformed, req.Total(), data))
	}
	f, err := s.store.Open(req.Handle, true)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	j := &Job{Req: &req, Header: h, File: f, Body: body, conn: c}
	s.stats.add("write.requests."+st.Name(), 1)
	if err := st.Write(ctx, j); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) { // a file error (ENOSPC, EIO): the stream is intact
			return fail(err)
		}
		return err
	}
	s.stats.add("write.bytes."+st.Name(), data)
	c.reply(h, &proto.Int{V: data})
	return nil
}

func (c *conn) rdmaWrite(ctx context.Context, j *Job, st Strategy) error {
	s := c.s
	f, err := s.store.Open(j.Req.Handle, true)
	if err != nil {
		return err
	}
	defer f.Close()
	j.File = f
	s.stats.add("write.requests."+st.Name(), 1)
	if err := st.Write(ctx, j); err != nil {
		return fmt.Errorf("write %s by %s: %w", j.Req.Handle, st.Name(), err)
	}
	s.stats.add("write.bytes."+st.Name(), j.Req.Total())
	return nil
}
