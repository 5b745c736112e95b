package ioserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/buildinfo"
	"github.com/ferry-hpc/ferry/internal/rawio"
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
	stats    *counters
	timeout  time.Duration
	limits   limits
	spinWait time.Duration // config spin_wait, default filled in (nextPoll)
	pollers  *pollers
	version  string
	fabrics  []*data.Fabric
	auth     string          // config.AuthMode
	key      []byte          // the file system key: signs and checks capabilities, and answers challenges in auth mode key
	verified verifiedCaps    // capabilities whose MAC verified under key
	ports    verbs.PortRange // where networked fabrics listen
	started  time.Time

	storageLock *os.File    // held while the server runs (lockStorage)
	closing     atomic.Bool // Close has begun: dropped transfers are its doing

	// The storage was empty (fresh) or missing (made) at New, and which
	// directory it was (storageID): a server that never serves takes
	// back what it made there (takeBackStorage).
	freshStorage, madeStorage bool
	storageID                 [2]uint64 // device, inode
	served                    atomic.Bool

	mu        sync.Mutex
	ln        net.Listener
	uln       *net.UnixListener // nil: no Unix socket
	unixTried bool              // makeUnix ran
	conns     map[*conn]struct{}
	hosts     map[string]int // connections by client address
	wg        sync.WaitGroup
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
		return nil, err // names the server
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
		timeout: cfg.Timeout.Duration, version: opts.Version, ports: ports, conns: make(map[*conn]struct{}), started: time.Now(), stats: newCounters(), hosts: make(map[string]int)}
	s.registerServer()
	s.limits = connLimits(cfg, raiseNofile(), 2) // 1 if no Unix socket can be made
	s.spinWait = self.SpinWait.Duration
	if s.spinWait == 0 {
		s.spinWait = DefaultSpinWait
	}
	s.pollers = newPollers(s.spinWait, s.stats.Add)
	if s.strategy == "" {
		s.strategy = proto.StrategyAuto
	}
	// Regions of dead processes in /dev/shm, any user's: clients remove
	// only their own user's, so the server is what frees the rest.
	if gone, err := verbs.RemoveStaleShm(true); err != nil {
		log.Warn("removing stale shm regions", "err", err, "removed", len(gone))
	} else if len(gone) > 0 {
		log.Info("removed stale shm regions of dead processes", "count", len(gone))
	}
	if err := s.setupAuth(); err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	key, err := config.ReadKey(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server %d: servers need the file system key to sign and check capabilities "+
			"(key_file in the config: %d random bytes, mode 0600, the same file on every server): %w", opts.ID, config.KeyBytes, err)
	}
	s.key = key
	fresh := emptyDir(self.Storage)
	_, statErr := os.Stat(self.Storage)
	if err := os.MkdirAll(self.Storage, 0o700); err != nil {
		return nil, fmt.Errorf("server %d: storage %s: %w", opts.ID, self.Storage, err)
	}
	s.freshStorage, s.madeStorage = fresh, errors.Is(statErr, fs.ErrNotExist)
	var st unix.Stat_t
	if err := unix.Stat(self.Storage, &st); err == nil {
		s.storageID = [2]uint64{st.Dev, st.Ino}
	}
	// A lock refused leaves the storage alone: it is another server's.
	if s.storageLock, err = lockStorage(self.Storage, opts.ID); err != nil {
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	fail := func(err error) (*Server, error) {
		if s.data != nil {
			s.data.Close()
		}
		s.closeFabrics()
		if s.meta != nil {
			s.meta.Close()
		}
		s.takeBackStorage() // under the lock
		s.storageLock.Close()
		return nil, fmt.Errorf("server %d: %w", opts.ID, err)
	}
	if opts.ID == cfg.MetadataServer {
		// Before the fabrics and the copy measure: a store that cannot be
		// had (held by another process, made for another server count)
		// is the likeliest reason not to start.
		if s.meta, err = meta.Open(filepath.Join(self.Storage, "meta.db"), len(cfg.Servers), cfg.StripSize, cfg.StripCount); err != nil {
			return fail(err)
		}
	}
	s.data, err = data.Open(data.Options{Dir: self.Storage, Strategy: s.strategy, PipelineDepth: self.PipelineDepth,
		AutoSendfile: self.AutoSendfile, Timeout: s.timeout, Stats: s.stats, Log: log})
	if err != nil {
		return fail(err)
	}
	if err := s.openFabrics(); err != nil {
		return fail(err)
	}
	s.data.MeasureEarly(s.fabrics)
	if fresh {
		// Right on a first start; on a later one, the storage's file
		// system did not mount (the server would serve an empty
		// namespace, or take writes on the wrong disk).
		log.Warn("storage was missing or empty: this server starts with new, empty storage; "+
			"if it should hold data, check that its file system is mounted", "storage", self.Storage)
	}
	return s, nil
}

// takeBackStorage removes what New made in storage that was missing or
// empty, for a server that never served: otherwise the next start would
// find it not empty and not warn, though the storage's file system may
// still be unmounted (a failed bind was enough). It runs under the
// storage lock, removes only the names New makes (the lock file last),
// and nothing if another directory is at the path now (a file system
// mounted there since); a directory that was missing goes if empty.
func (s *Server) takeBackStorage() {
	if !s.freshStorage || s.served.Load() || s.storageLock == nil {
		return
	}
	dir := s.self.Storage
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil || [2]uint64{st.Dev, st.Ino} != s.storageID {
		return
	}
	var err error
	for _, n := range []string{"data", "removed", "meta.db", storageLockName} {
		if rerr := os.RemoveAll(filepath.Join(dir, n)); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if s.madeStorage {
		if rerr := os.Remove(dir); rerr != nil && !errors.Is(rerr, fs.ErrExist) && !errors.Is(rerr, syscall.ENOTEMPTY) {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		s.log.Warn("could not remove the storage this start made", "storage", dir, "err", err)
	}
}

// emptyDir says whether dir is missing or holds nothing.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return os.IsNotExist(err)
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// Listen makes the server's Unix socket (if it can), then binds the
// configured bind address (by default the advertised one). The socket
// comes first: the kernel completes TCP connections from the moment of
// the bind, and a local client that got in by TCP while the socket was
// not there yet stayed on TCP, where the server cannot know its uid, and
// held capabilities for nobody that servers it reached by socket refused
// (found by the soak, at a server's restart).
func (s *Server) Listen() (net.Listener, error) {
	s.makeUnix()
	ln, err := net.Listen("tcp", s.self.BindAddress())
	if err != nil {
		return nil, fmt.Errorf("server %d: listen on %s: %w", s.id, s.self.BindAddress(), err)
	}
	return ln, nil
}

// descPerConnLocked is how many descriptors a connection may hold: two
// where a Unix socket may be made or is (a reply socket each), one where
// none could be made.
func (s *Server) descPerConnLocked() int {
	if s.unixTried && s.uln == nil {
		return 1
	}
	return 2
}

// makeUnix makes the Unix socket once, warning when it cannot.
func (s *Server) makeUnix() *net.UnixListener {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unixTried {
		s.unixTried = true
		if uln, err := s.listenUnix(); err != nil {
			// Clients on this host then connect by TCP and get no shm,
			// and a connection holds one descriptor.
			s.log.Warn("no Unix socket; local clients cannot use shm", "err", err)
			s.limits = connLimits(s.cfg, raiseNofile(), s.descPerConnLocked())
		} else {
			s.uln = uln
		}
	}
	return s.uln
}

// Serve accepts connections until ctx is done or Close is called, on ln
// and on the server's Unix socket (which it makes, if it can).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.served.Store(true)
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	if uln := s.makeUnix(); uln != nil {
		stopU := context.AfterFunc(ctx, func() { uln.Close() })
		defer stopU()
		s.wg.Go(func() {
			if err := s.acceptLoop(ctx, uln); err != nil {
				s.log.Error("unix socket", "err", err)
			}
		})
	}
	s.log.Info("serving", "address", s.self.Address, "bind", ln.Addr().String(), "socket", s.self.SocketPath(), "storage", s.self.Storage,
		"metadata", s.meta != nil, "strategy", s.strategy, "auth", s.auth,
		"max_conns", s.limits.maxConns, "max_conns_per_host", s.limits.perHost, "idle_timeout", s.limits.idle)
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
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !acceptBackoff(err) {
				return fmt.Errorf("server %d: accept: %w", s.id, err)
			}
			// Out of descriptors (or the like): wait for connections to
			// close rather than exit, as net/http does.
			if (errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)) && s.makeRoom() {
				continue
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.stats.Add("accept.backoff", 1)
			if backoff == time.Second {
				s.log.Warn("accept failing; backing off", "err", err)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		c := &conn{s: s, nc: nc, raw: rawio.New(nc), host: hostOf(nc), slots: make(chan struct{}, maxInFlight)}
		c.last.Store(time.Now().UnixNano())
		if uc, ok := nc.(*net.UnixConn); ok {
			cred, err := peerCred(uc)
			if err != nil {
				s.log.Warn("unix connection without peer credentials", "err", err)
				nc.Close()
				continue
			}
			c.cred = cred
		}
		if !s.admit(c) {
			s.stats.Add("conn.refused", 1)
			nc.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.readLoop(ctx)
			s.mu.Lock()
			s.forgetLocked(c)
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

// admit enters c in the connection table within the limits. At a limit
// it closes the longest-idle connection that counts toward it (of c's
// host when the host is at its limit) to make room; with none idle, c is
// refused. The closed connection leaves the table when its loop ends, so
// the table may briefly hold more than the limit.
func (s *Server) admit(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var victim *conn
	switch {
	case len(s.conns) >= s.limits.maxConns:
		victim = s.longestIdleLocked("")
	case s.hosts[c.host] >= s.limits.perHost:
		victim = s.longestIdleLocked(c.host)
	}
	if victim == nil && (len(s.conns) >= s.limits.maxConns || s.hosts[c.host] >= s.limits.perHost) {
		return false
	}
	if victim != nil {
		s.stats.Add("conn.evicted_idle", 1)
		victim.close()
		s.forgetLocked(victim)
	}
	s.conns[c] = struct{}{}
	s.hosts[c.host]++
	return true
}

// makeRoom answers running out of descriptors: it lowers the connection
// cap to what the descriptor limit allows now (it may have been lowered
// since the start) and closes the longest-idle connections past it, or
// one if none is past it. It reports whether it closed any.
func (s *Server) makeRoom() bool {
	nofile := raiseNofile() // system calls: not under s.mu
	s.mu.Lock()
	defer s.mu.Unlock()
	l := connLimits(s.cfg, nofile, s.descPerConnLocked())
	s.limits.maxConns = min(s.limits.maxConns, l.maxConns)
	s.limits.perHost = min(s.limits.perHost, s.limits.maxConns)
	closed := 0
	for closed == 0 || len(s.conns) > s.limits.maxConns {
		v := s.longestIdleLocked("")
		if v == nil {
			break
		}
		v.close()
		s.forgetLocked(v)
		closed++
	}
	s.stats.Add("conn.evicted_idle", int64(closed))
	return closed > 0
}

// forgetLocked takes c out of the connection table (once).
func (s *Server) forgetLocked(c *conn) {
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.hosts[c.host]--; s.hosts[c.host] <= 0 {
		delete(s.hosts, c.host)
	}
}

// longestIdleLocked is the connection (of host, unless "") with nothing
// in flight for the longest, nil if none is idle.
func (s *Server) longestIdleLocked(host string) *conn {
	now := time.Now()
	var best *conn
	var bestIdle time.Duration
	for c := range s.conns {
		if host != "" && c.host != host {
			continue
		}
		if d := c.idleFor(now); d > bestIdle {
			best, bestIdle = c, d
		}
	}
	return best
}

// Close stops accepting, closes every connection, waits for handlers and
// closes the stores and fabrics.
func (s *Server) Close() error {
	return s.close(false)
}

// CloseUnserved closes a server whose Serve was never called (its
// listener failed), and takes back the storage New made if the storage
// was missing or empty (see takeBackStorage).
func (s *Server) CloseUnserved() error {
	return s.close(true)
}

func (s *Server) close(takeBack bool) error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	if s.uln != nil {
		s.uln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.data.Close() // mappings registered on the fabrics go first
	s.closeFabrics()
	var err error
	if s.meta != nil {
		err = s.meta.Close()
	}
	if takeBack {
		s.takeBackStorage() // under the lock
	}
	s.storageLock.Close() // last: the storage is no longer in use
	return err
}

// hello is the server's answer to a hello: the file system's servers and
// defaults, and this server's fabrics.
func (s *Server) hello() *proto.HelloResp {
	r := &proto.HelloResp{ServerID: s.id, MetaServer: s.cfg.MetadataServer, DefaultStrip: s.cfg.StripSize,
		DefaultCount: s.cfg.StripCount, Strategy: s.strategy, Auth: s.auth, LocalReads: s.self.LocalReadsAllowed()}
	for _, sv := range s.cfg.Servers {
		r.Servers = append(r.Servers, sv.Address)
		r.Sockets = append(r.Sockets, sv.SocketPath())
	}
	for _, f := range s.fabrics {
		r.Fabrics = append(r.Fabrics, proto.Fabric{Provider: f.Provider(), Addr: f.Address()})
	}
	return r
}

// statsSnapshot is the counters plus each fabric's pool figures and the
// server's state (the server.* names), which ferry status reads.
func (s *Server) statsSnapshot() *proto.Stats {
	st := s.stats.snapshot()
	for _, f := range s.fabrics {
		waits, buffers := f.PoolStats()
		st.Names = append(st.Names, "pool.waits."+f.Provider(), "pool.buffers."+f.Provider(), "fabric.peers."+f.Provider(),
			"fabric.dropped."+f.Provider(), "fabric.first_contacts."+f.Provider())
		st.Values = append(st.Values, waits, buffers, int64(f.Peers()), f.Dropped(), f.FirstContacts())
	}
	conns, inflight := s.load()
	// The version rides in a name (value 1), as a Prometheus build_info
	// gauge carries it in a label: OpStats has no string values.
	st.Names = append(st.Names, "server.uptime_seconds", "server.connections", "server.requests_in_flight",
		"server.pid", "server.version."+buildinfo.Full())
	st.Values = append(st.Values, int64(time.Since(s.started).Seconds()), int64(conns), int64(inflight), int64(os.Getpid()), 1)
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		// The kernel's 1-minute load average, fixed point with 16 bits
		// of fraction; in thousandths here.
		st.Names = append(st.Names, "server.loadavg1_milli")
		st.Values = append(st.Values, int64(si.Loads[0]*1000>>16))
	}
	return st
}

// load counts the open connections and the requests they have in
// progress (the asking one included).
func (s *Server) load() (conns, inflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		inflight += len(c.slots)
	}
	return len(s.conns), inflight
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
