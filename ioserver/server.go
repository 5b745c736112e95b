package ioserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/ioserver/data"
	"github.com/ferry-hpc/ferry/ioserver/meta"
	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// maxInFlight bounds the requests one connection may have in progress;
// past it the server stops reading that connection (back-pressure).
const maxInFlight = 64

// Options configure a server.
type Options struct {
	Config *config.Config
	ID     int
	Logger *slog.Logger
	// Version is the software version the server reports to clients it
	// refuses (optional).
	Version string
}

// Server is one I/O server.
type Server struct {
	cfg      *config.Config
	id       int
	self     config.Server
	log      *slog.Logger
	data     *data.Service
	meta     *meta.Store // nil unless this server runs the metadata service
	strategy string      // the default strategy, for the hello
	stats    counters
	timeout  time.Duration
	version  string
	fabrics  []*data.Fabric
	auth     string          // config.AuthMode
	key      []byte          // auth key: the file system's key
	ports    verbs.PortRange // where networked fabrics listen

	mu    sync.Mutex
	ln    net.Listener
	uln   *net.UnixListener // nil: no Unix socket
	conns map[*conn]struct{}
	wg    sync.WaitGroup
}

// errNotMeta answers metadata requests sent to a server that does not run
// the metadata service.
var errNotMeta = fmt.Errorf("this server does not run the metadata service: %w", unix.EREMOTE)

// New opens the server's storage, fabrics and (on the metadata server) the
// metadata store, but does not listen.
func New(opts Options) (*Server, error) {
	cfg := opts.Config
	if opts.ID < 0 || opts.ID >= len(cfg.Servers) {
		return nil, fmt.Errorf("server id %d is not in the config (0..%d)", opts.ID, len(cfg.Servers)-1)
	}
	self := cfg.Servers[opts.ID]
	rctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout.Duration)
	err := cfg.CheckAddresses(rctx, net.DefaultResolver.LookupHost)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	ports, err := verbs.ParsePortRange(self.FabricPorts)
	if err != nil {
		return nil, fmt.Errorf("server %d: fabric_ports: %v: %w", opts.ID, err, config.ErrInvalid)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("server", opts.ID)
	s := &Server{cfg: cfg, id: opts.ID, self: self, log: log, strategy: self.Strategy,
		timeout: cfg.Timeout.Duration, version: opts.Version, ports: ports, conns: make(map[*conn]struct{})}
	if s.strategy == "" {
		s.strategy = proto.StrategyAuto
	}
	if err := os.MkdirAll(self.Storage, 0o700); err != nil {
		return nil, fmt.Errorf("server %d: storage %s: %w", opts.ID, self.Storage, err)
	}
	if err := s.setupAuth(); err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	s.data, err = data.Open(data.Options{Dir: self.Storage, Strategy: s.strategy, PipelineDepth: self.PipelineDepth,
		AutoSendfile: self.AutoSendfile, Timeout: s.timeout, Stats: &s.stats, Log: log})
	if err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	if err := s.openFabrics(); err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	if opts.ID == cfg.MetadataServer {
		s.meta, err = meta.Open(filepath.Join(self.Storage, "meta.db"), len(cfg.Servers), cfg.StripSize, cfg.StripCount)
		if err != nil {
			s.closeFabrics()
			return nil, fmt.Errorf("server %d: %w", opts.ID, err)
		}
	}
	return s, nil
}

// Listen binds the configured bind address (by default the advertised one).
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.self.BindAddress())
	if err != nil {
		return nil, fmt.Errorf("server %d: listen on %s: %w", s.id, s.self.BindAddress(), err)
	}
	return ln, nil
}

// Serve accepts connections until ctx is done or Close is called, on ln
// and on the server's Unix socket (which it makes, if it can).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	if uln, err := s.listenUnix(); err != nil {
		// Clients on this host then connect by TCP and get no shm.
		s.log.Warn("no Unix socket; local clients cannot use shm", "err", err)
	} else {
		s.mu.Lock()
		s.uln = uln
		s.mu.Unlock()
		stopU := context.AfterFunc(ctx, func() { uln.Close() })
		defer stopU()
		s.wg.Go(func() {
			if err := s.acceptLoop(ctx, uln); err != nil {
				s.log.Error("unix socket", "err", err)
			}
		})
	}
	s.log.Info("serving", "address", s.self.Address, "bind", ln.Addr().String(), "socket", s.self.SocketPath(), "storage", s.self.Storage,
		"metadata", s.meta != nil, "strategy", s.strategy, "auth", s.auth)
	return s.acceptLoop(ctx, ln)
}

// listenUnix makes the server's Unix socket, replacing a stale one. It is
// open to every user: the kernel's peer credentials, not the file's mode,
// say who each client is.
func (s *Server) listenUnix() (*net.UnixListener, error) {
	path := s.self.SocketPath()
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("socket path %s is longer than %d bytes", path, len(unix.RawSockaddrUnix{}.Path)-1)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another server listens there: %w", path, unix.EADDRINUSE)
		}
		os.Remove(path)
	}
	uln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	uln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		uln.Close()
		return nil, err
	}
	return uln, nil
}

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) error {
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
		c := &conn{s: s, nc: nc, slots: make(chan struct{}, maxInFlight)}
		if uc, ok := nc.(*net.UnixConn); ok {
			cred, err := peerCred(uc)
			if err != nil {
				s.log.Warn("unix connection without peer credentials", "err", err)
				nc.Close()
				continue
			}
			c.cred = cred
		}
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

// peerCred is the process on the other end of a Unix socket, as the
// kernel saw it at connect.
func peerCred(uc *net.UnixConn) (*unix.Ucred, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return cred, nil
}

// Close stops accepting, closes every connection, waits for handlers and
// closes the stores and fabrics.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	if s.uln != nil {
		s.uln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.data.Close() // mappings registered on the fabrics go first
	s.closeFabrics()
	if s.meta != nil {
		return s.meta.Close()
	}
	return nil
}

// hello is the server's answer to a hello: the file system's servers and
// defaults, and this server's fabrics.
func (s *Server) hello() *proto.HelloResp {
	r := &proto.HelloResp{ServerID: s.id, MetaServer: s.cfg.MetadataServer, DefaultStrip: s.cfg.StripSize,
		DefaultCount: s.cfg.StripCount, Strategy: s.strategy, Auth: s.auth}
	for _, sv := range s.cfg.Servers {
		r.Servers = append(r.Servers, sv.Address)
		r.Sockets = append(r.Sockets, sv.SocketPath())
	}
	for _, f := range s.fabrics {
		r.Fabrics = append(r.Fabrics, proto.Fabric{Provider: f.Provider(), Addr: f.Address()})
	}
	return r
}

// statsSnapshot is the counters plus each fabric's pool figures.
func (s *Server) statsSnapshot() *proto.Stats {
	st := s.stats.snapshot()
	for _, f := range s.fabrics {
		waits, buffers := f.PoolStats()
		st.Names = append(st.Names, "pool.waits."+f.Provider(), "pool.buffers."+f.Provider(), "fabric.peers."+f.Provider())
		st.Values = append(st.Values, waits, buffers, int64(f.Peers()))
	}
	return st
}

// fileServer checks that the layout fits this file system and puts strips
// on this server, and returns this server's index within the file.
func (s *Server) fileServer(handle string, l layout.Layout) (int, error) {
	if l.Total != len(s.cfg.Servers) {
		return 0, fmt.Errorf("layout names %d servers, this file system has %d: %w", l.Total, len(s.cfg.Servers), unix.EINVAL)
	}
	j, ok := l.FileServer(s.id)
	if !ok {
		return 0, fmt.Errorf("file %s has no strips on server %d: %w", handle, s.id, unix.EINVAL)
	}
	return j, nil
}
