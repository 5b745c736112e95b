package clientlib

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/regcache"
	"github.com/ferry-hpc/ferry/verbs"
)

// Options tune a client. Zero values take the defaults.
type Options struct {
	// Timeout bounds every wait for a server (default: the config's, else 30s).
	Timeout time.Duration
	// MaxRequest is the most bytes one data request moves (default 4 MiB).
	MaxRequest int64
	// Depth is the data requests in flight per server per call (default 4).
	Depth int
	// Name identifies the client in server logs.
	Name string
	// Provider is the fabric provider: "auto" (the default: shm for
	// servers on this host, else the best networked provider the servers
	// offer), a provider name verbs.CanonicalProvider accepts, or "none"
	// for sockets only.
	Provider string
	// FabricInterface is the address or interface a networked provider
	// binds to (default: the local address of the control connection).
	FabricInterface string
	// Strategy asks the servers for a serving strategy (proto.StrategyNames:
	// auto, copy, pipeline, sendfile, or sockets for no fabric). Default:
	// each server's configured strategy.
	Strategy string
	// EagerThreshold: requests smaller than this travel inline and skip
	// registration (default DefaultShmEagerThreshold, 1 MiB, on shm and
	// DefaultEagerThreshold, 16 KiB, on networked providers; 1: no request
	// inline; negative: every request inline).
	EagerThreshold int64
	// SpinWait is how long a call waiting for the reply to a small inline
	// read or write polls its connection before it sleeps (default
	// DefaultSpinWait; negative: never). A reply that comes within it
	// saves the thread's sleep and wake-up, a third or more of a small
	// read's round trip; the polling thread holds its CPU meanwhile.
	SpinWait time.Duration
	// RegCache is the registration cache's mode (regcache.ParseMode): "on"
	// (the default), "off" (register and deregister per call) or "fast".
	RegCache string
	// RegCacheMaxEntries and RegCacheMaxBytes bound the cache's unused
	// registrations (0: regcache's defaults).
	RegCacheMaxEntries int
	RegCacheMaxBytes   int64
	// RegCacheUserModeOnly opens the cache's userfaultfd monitor in user
	// mode only (see regcache.Options.UserModeOnly).
	RegCacheUserModeOnly bool
	// RegCacheSmallPages keeps the cache from asking the kernel for
	// transparent huge pages in the buffers it registers (see
	// regcache.Options.SmallPages; by default it asks).
	RegCacheSmallPages bool
	// KeyFile is the file system's key, for servers in auth mode key
	// (Mount: the config's key_file).
	KeyFile string
	// MungeSocket is munged's socket, for servers in auth mode munge
	// (Mount: the config's munge_socket; default: MUNGE's own).
	MungeSocket string
	// LocalReads is whether the client reads the datafiles of servers on
	// its own host itself, through read-only descriptors they pass, rather
	// than by requests: "on" (the default) or LocalReadsOff. A Strategy
	// other than auto turns it off too (that strategy serves every read);
	// servers may refuse (their local_reads setting).
	LocalReads string
	// Logger gets the client's warnings: things that went wrong without
	// failing the call, such as datafiles an unlink had to leave for
	// fsck (default slog.Default()).
	Logger *slog.Logger
}

// LocalReadsOff is Options.LocalReads's value that sends every read to
// the servers.
const LocalReadsOff = "off"

const (
	defaultMaxRequest = 4 << 20
	defaultDepth      = 4
)

// Client is a mounted Ferry file system. It is safe for concurrent use.
type Client struct {
	opts      Options
	servers   []*serverConn
	meta      *serverConn
	hello     proto.HelloResp
	fab       *clientFabric // nil: sockets only
	fabErr    error         // why there is no fabric, when auto fell back
	closeOnce sync.Once
	closed    atomic.Bool  // Close ran
	localOpen atomic.Int64 // datafile descriptors files hold (localread.go)
	localMax  int64        // the most of them (localLimit)
	localMu   sync.Mutex
	withLocal map[*localFiles]struct{} // files' descriptors, closed by Close
}

// Mount connects to the file system a config file describes: a client
// file (config.Client) or a full config. Options left at their zero value
// take the file's provider, fabric interface, timeout, key file and munge
// socket. The servers are
// asked in the file's order; the first that answers hands over the rest.
func Mount(ctx context.Context, configPath string, opts Options) (*Client, error) {
	cfg, err := config.LoadClient(configPath)
	if err != nil {
		return nil, &Error{Op: "mount", Path: configPath, Server: -1, Err: err}
	}
	if opts.Timeout == 0 {
		opts.Timeout = cfg.Timeout.Duration
	}
	if opts.KeyFile == "" {
		opts.KeyFile = cfg.KeyFile
	}
	if opts.MungeSocket == "" {
		opts.MungeSocket = cfg.MungeSocket
	}
	if opts.Provider == "" {
		opts.Provider = cfg.Provider
	}
	if opts.FabricInterface == "" {
		opts.FabricInterface = cfg.FabricInterface
	}
	if opts.SpinWait == 0 {
		opts.SpinWait = cfg.SpinWait.Duration
	}
	var errs []error
	for _, a := range cfg.Servers {
		c, err := Dial(ctx, a, opts)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		var ce *Error
		if ctx.Err() != nil || (errors.As(err, &ce) && !isUnreachable(ce.Err)) {
			break // not a server down: asking the next would give the same answer
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, &Error{Op: "mount", Path: configPath, Server: -1, Err: errors.Join(errs...)}
}

// isUnreachable reports errors that another server might not give: a
// refused or timed-out connection.
func isUnreachable(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ETIMEDOUT) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// Dial mounts the file system that the server at addr belongs to: it asks
// that server for the server list and the defaults.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = config.DefaultTimeout
	}
	if opts.MaxRequest <= 0 {
		opts.MaxRequest = defaultMaxRequest
	}
	opts.MaxRequest = min(opts.MaxRequest, proto.MaxIOBytes-(1<<20))
	if opts.Depth <= 0 {
		opts.Depth = defaultDepth
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("%s[%d]", filepath.Base(os.Args[0]), os.Getpid())
	}
	prov, err := verbs.CanonicalProvider(opts.Provider)
	if err != nil {
		return nil, &Error{Op: "mount", Server: -1, Err: fmt.Errorf("%v: %w", err, syscall.EINVAL)}
	}
	opts.Provider = prov
	if err := proto.CheckStrategy(opts.Strategy); err != nil {
		return nil, &Error{Op: "mount", Server: -1, Err: err}
	}
	if err := CheckLocalReads(opts.LocalReads); err != nil {
		return nil, &Error{Op: "mount", Server: -1, Err: err}
	}
	mode, err := regcache.ParseMode(opts.RegCache)
	if err != nil {
		return nil, &Error{Op: "mount", Server: -1, Err: fmt.Errorf("%v: %w", err, syscall.EINVAL)}
	}
	rc := mode.Apply(regcache.Options{MaxEntries: opts.RegCacheMaxEntries, MaxBytes: opts.RegCacheMaxBytes,
		UserModeOnly: opts.RegCacheUserModeOnly, SmallPages: opts.RegCacheSmallPages})
	if opts.SpinWait == 0 {
		opts.SpinWait = DefaultSpinWait
	}
	// Bootstrap: ask one server for the list, the defaults and the fabrics.
	first := &serverConn{id: -1, addr: addr, timeout: opts.Timeout}
	var hello proto.HelloResp
	err = first.control(ctx, proto.OpHello, &proto.HelloReq{Client: opts.Name}, &hello)
	localAddr := first.localAddr()
	first.close()
	if err != nil {
		return nil, wrap("mount", "", err)
	}
	c := &Client{opts: opts, hello: hello, localMax: localLimit()}
	if err := c.setupFabric(localAddr, rc); err != nil {
		return nil, &Error{Op: "mount", Server: -1, Err: err}
	}
	if c.opts.EagerThreshold == 0 {
		prov := ""
		if c.fab != nil {
			prov = c.fab.provider
		}
		c.opts.EagerThreshold = eagerThreshold(prov)
	}
	for i, a := range hello.Servers {
		sc := &serverConn{id: i, addr: a, timeout: opts.Timeout, name: opts.Name, spin: opts.SpinWait,
			auth:   authConfig{Mode: hello.Auth, KeyFile: opts.KeyFile, MungeSocket: opts.MungeSocket},
			fdSlot: make(chan struct{}, 1)}
		if i < len(hello.Sockets) {
			sc.socket = hello.Sockets[i]
		}
		if c.fab != nil {
			sc.fabrics = []proto.Fabric{{Provider: c.fab.provider, Addr: c.fab.ep.LaneAddress(i)}}
			ep, lane := c.fab.ep, i
			sc.lane = func(reached bool) {
				sc.reached.Store(reached)
				if reached {
					ep.SettleLane(lane)
				} else {
					ep.UnsettleLane(lane)
				}
			}
			sc.busy = func(rmas int) func() {
				done := ep.LaneBusy(lane, rmas) // expects if the lane is not settled
				if sc.reached.Load() {
					return done
				}
				// With more servers than lanes, another server may have
				// settled the lane this one shares: its first contact
				// still needs the endpoint to progress.
				expect := ep.Expect()
				return func() { done(); expect() }
			}
			sc.lanePeer = func(pid int) { ep.SetLanePeer(lane, pid) }
		}
		c.servers = append(c.servers, sc)
	}
	c.meta = c.servers[hello.MetaServer]
	return c, nil
}

// setupFabric opens the client's fabric endpoint, if the options and the
// servers call for one. With provider auto a fabric that cannot be opened
// leaves the client on sockets (DataPath says why); a named provider that
// cannot be opened is an error.
func (c *Client) setupFabric(localAddr string, rc regcache.Options) error {
	if c.opts.Strategy == proto.StrategySockets {
		return nil
	}
	offered, why := usableFabrics(c.hello.Fabrics)
	prov, err := chooseProvider(c.opts.Provider, offered, isLocal(c.hello.Servers))
	if err != nil && why != "" {
		err = fmt.Errorf("%w (%s)", err, why)
	}
	if why != "" && err == nil && c.opts.Provider == "auto" && isLocal(c.hello.Servers) {
		// Expected for every user but the servers' own, so not worth a
		// line on every command's stderr; DataPath (ferry ping) says it.
		slog.Debug("ferry: not using shm", "why", why, "instead", prov)
	}
	if err != nil || prov == "" {
		if c.opts.Provider == "auto" {
			c.fabErr = err
			return nil
		}
		return err
	}
	iface := c.opts.FabricInterface
	if iface == "" {
		iface = verbs.DefaultInterface
		if host, _, err := net.SplitHostPort(localAddr); err == nil {
			iface = host
		}
	}
	fab, err := openClientFabric(prov, iface, clientLanes(prov, len(c.hello.Servers)), rc)
	if err != nil {
		if c.opts.Provider == "auto" {
			c.fabErr = err
			return nil
		}
		return err
	}
	c.fab = fab
	return nil
}

// DataPath says how bulk bytes move to server id: "rdma:<provider>" or
// "sockets" (with the reason when a fabric was wanted but not had).
func (c *Client) DataPath(id int) string {
	if c.opts.Strategy == proto.StrategySockets {
		return "sockets (asked for)"
	}
	if c.fab == nil {
		if c.fabErr != nil {
			return "sockets (no fabric: " + c.fabErr.Error() + ")"
		}
		if c.opts.Provider == verbs.ProviderNone {
			return "sockets (provider none)"
		}
		return "sockets (servers offer no fabric)"
	}
	if id >= 0 && id < len(c.servers) {
		if ok, known := c.servers[id].rdmaState(); known && !ok {
			if r := c.servers[id].refusedWhy(); r != "" {
				return "sockets (server " + fmt.Sprint(id) + " refused our " + c.fab.provider + " address: " + r + ")"
			}
			return "sockets (server " + fmt.Sprint(id) + " lacks " + c.fab.provider + ")"
		}
	}
	return "rdma:" + c.fab.provider
}

// Close drops every connection. Files of the client become unusable.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		for _, s := range c.servers {
			s.close()
		}
		// Then the files' datafile descriptors (one an ask brings in
		// after this is closed by the asker: the client is closed).
		c.localMu.Lock()
		files := c.withLocal
		c.withLocal = nil
		c.localMu.Unlock()
		for l := range files {
			l.close()
		}
		if c.fab != nil {
			c.fab.close()
		}
	})
	return nil
}

// Servers returns the servers' control addresses, indexed by id.
func (c *Client) Servers() []string { return append([]string(nil), c.hello.Servers...) }

// MetaServer is the id of the metadata server.
func (c *Client) MetaServer() int { return c.hello.MetaServer }

// Defaults returns the file system's default strip size and server count.
func (c *Client) Defaults() (strip int64, count int) {
	count = c.hello.DefaultCount
	if count == 0 {
		count = len(c.servers)
	}
	return c.hello.DefaultStrip, count
}

// Ping does a hello round trip to server id and returns what it said.
func (c *Client) Ping(ctx context.Context, id int) (*proto.HelloResp, time.Duration, error) {
	if id < 0 || id >= len(c.servers) {
		return nil, 0, &Error{Op: "ping", Server: -1, Err: fmt.Errorf("no server %d: %w", id, syscall.EINVAL)}
	}
	start := time.Now()
	var h proto.HelloResp
	err := c.servers[id].control(ctx, proto.OpHello, &proto.HelloReq{Client: c.opts.Name}, &h)
	return &h, time.Since(start), err
}

// ServerStats returns server id's counters.
func (c *Client) ServerStats(ctx context.Context, id int) (map[string]int64, error) {
	if id < 0 || id >= len(c.servers) {
		return nil, &Error{Op: "stats", Server: -1, Err: fmt.Errorf("no server %d: %w", id, syscall.EINVAL)}
	}
	var st proto.Stats
	if err := c.servers[id].control(ctx, proto.OpStats, &proto.Empty{}, &st); err != nil {
		return nil, err
	}
	m := make(map[string]int64, len(st.Names))
	for i, n := range st.Names {
		m[n] = st.Values[i]
	}
	return m, nil
}

func clean(op, p string) (string, error) {
	cp, err := proto.CleanPath(p)
	if err != nil {
		// EINVAL unless the error carries its own errno (ENAMETOOLONG,
		// or EINVAL already: said once).
		var en syscall.Errno
		if !errors.As(err, &en) {
			err = fmt.Errorf("%w: %w", err, syscall.EINVAL)
		}
		return "", &Error{Op: op, Path: p, Server: -1, Err: err}
	}
	return cp, nil
}

func (c *Client) metaCall(ctx context.Context, op proto.Op, path string, req, resp proto.Message) error {
	return wrap(op.String(), path, c.meta.control(ctx, op, req, resp))
}

// CreateOptions are the attributes of a new file.
type CreateOptions struct {
	Mode      fs.FileMode // permission bits; 0 means 0644 unless ExactMode
	ExactMode bool        // Mode as given, 0 included (as open(2)'s mode)
	StripSize int64       // 0: the file system's default
	Count     int         // servers to stripe over; 0: the default
	Exclusive bool        // fail with fs.ErrExist if the name exists
}

// Create makes a file (or opens the existing one unless Exclusive),
// owned by the calling process's user and group.
func (c *Client) Create(ctx context.Context, path string, o CreateOptions) (*File, error) {
	return c.CreateAs(ctx, path, o, ProcessOwner())
}

// Open opens an existing file.
func (c *Client) Open(ctx context.Context, path string) (*File, error) {
	r, err := c.lookup(ctx, "open", path)
	if err != nil {
		return nil, err
	}
	if r.Attr.Type != proto.TypeFile {
		return nil, &Error{Op: "open", Path: r.Attr.Path, Server: -1, Err: syscall.EISDIR}
	}
	return c.newFile(r.Attr, r.Cap), nil
}

// lookup returns path's attributes and, for a file, the capability the
// metadata server issued for it.
func (c *Client) lookup(ctx context.Context, op, path string) (*proto.OpenResp, error) {
	p, err := clean(op, path)
	if err != nil {
		return nil, err
	}
	var r proto.OpenResp
	if err := c.meta.control(ctx, proto.OpLookup, &proto.PathReq{Path: p}, &r); err != nil {
		return nil, wrap(op, p, err)
	}
	if namesDir(path) && r.Attr.Type != proto.TypeDir {
		return nil, &Error{Op: op, Path: path, Server: -1, Err: syscall.ENOTDIR}
	}
	if err := c.checkLayout(op, &r.Attr); err != nil {
		return nil, err
	}
	return &r, nil
}

// namesDir says whether path ends in "/" (the root aside): as in POSIX,
// it then names a directory, and a file found there is ENOTDIR. clean
// drops the slash, so calls look at the path they were given.
func namesDir(path string) bool {
	path = strings.TrimPrefix(path, "ferry:")
	return len(path) > 1 && strings.HasSuffix(path, "/")
}

// dirOnly is ENOTDIR when path ends in "/" and names something other
// than a directory; nil otherwise, a missing name included (the call
// that follows reports that). Only such a path costs a lookup.
func (c *Client) dirOnly(ctx context.Context, op, path string) error {
	if !namesDir(path) {
		return nil
	}
	if _, err := c.lookup(ctx, op, path); errors.Is(err, syscall.ENOTDIR) {
		return err
	}
	return nil
}

// Mkdir makes a directory owned by the calling process's user and group;
// a mode of 0 means 0755 (MkdirAs takes any mode as given).
func (c *Client) Mkdir(ctx context.Context, path string, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o755
	}
	_, err := c.MkdirAs(ctx, path, mode, ProcessOwner())
	return err
}

// MkdirAll makes a directory and any missing parents, each with mode as
// given (0 included, as MkdirAs).
func (c *Client) MkdirAll(ctx context.Context, path string, mode fs.FileMode) error {
	p, err := clean("mkdir", path)
	if err != nil {
		return err
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := ""
	for _, part := range parts {
		if part == "" {
			continue
		}
		cur += "/" + part
		_, err := c.MkdirAs(ctx, cur, mode, ProcessOwner())
		if err != nil && !isExist(err) {
			return err
		}
		if err != nil && cur == p { // there already: as os.MkdirAll, only a directory will do
			fi, serr := c.StatNames(ctx, p)
			if serr != nil {
				return serr
			}
			if !fi.IsDir() {
				return &Error{Op: "mkdir", Path: p, Server: -1, Err: syscall.ENOTDIR}
			}
		}
	}
	return nil
}

func isExist(err error) bool { return errors.Is(err, fs.ErrExist) }

// DirEntry is one name in a directory.
type DirEntry struct {
	Name  string
	IsDir bool
}

// ReadDir lists a directory in name order.
func (c *Client) ReadDir(ctx context.Context, path string) ([]DirEntry, error) {
	p, err := clean("readdir", path)
	if err != nil {
		return nil, err
	}
	var out []DirEntry
	after := ""
	for {
		var page proto.ReaddirResp
		if err := c.metaCall(ctx, proto.OpReaddir, p, &proto.ReaddirReq{Path: p, After: after, Max: 1024}, &page); err != nil {
			return nil, err
		}
		for _, e := range page.Entries {
			out = append(out, DirEntry{Name: e.Name, IsDir: e.Type == proto.TypeDir})
		}
		if !page.More || len(page.Entries) == 0 {
			return out, nil
		}
		after = page.Entries[len(page.Entries)-1].Name
	}
}

// Remove removes a file (and its datafiles on every server) or an empty
// directory. Once the name is gone the call succeeds: a server that
// cannot remove its datafile leaves an orphan for `ferry fsck --repair`,
// with a warning to Options.Logger.
func (c *Client) Remove(ctx context.Context, path string) error {
	r, err := c.lookup(ctx, "remove", path)
	if err != nil {
		return err
	}
	a := &r.Attr
	if a.Type == proto.TypeDir {
		return c.metaCall(ctx, proto.OpRmdir, a.Path, &proto.PathReq{Path: a.Path}, &proto.Empty{})
	}
	var gone proto.OpenResp
	if err := c.metaCall(ctx, proto.OpUnlink, a.Path, &proto.PathReq{Path: a.Path}, &gone); err != nil {
		return err
	}
	c.removeData(ctx, "remove", &gone.Attr, gone.Cap)
	return nil
}

// removeData deletes the datafiles of a file whose name is gone, on every
// server it spans. The name's removal was the operation, and it happened:
// a server that fails here leaves an orphan datafile (space, not data),
// which is reported as a warning and left for fsck, not returned as an
// error that would say the name is still there.
//
// Every server is asked, whatever the others answer (no first error
// cancels the rest), so only the failed servers' datafiles stay behind.
// cp is the capability the unlink or rename issued for the removal.
func (c *Client) removeData(ctx context.Context, op string, a *proto.Attr, cp proto.Cap) {
	if err := c.checkLayout(op, a); err != nil {
		c.opts.Logger.Warn("name removed, but its layout is not this file system's; datafiles left for fsck",
			"op", op, "path", a.Path, "handle", a.Handle, "err", err.Error())
		return
	}
	req := &proto.DataReq{Handle: a.Handle, Cap: cp, Layout: a.Layout}
	errs := make([]error, a.Layout.Count)
	var wg sync.WaitGroup
	for j := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[j] = c.servers[a.Layout.Server(j)].roundTrip(ctx, proto.OpRemove, req, nil, nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.opts.Logger.Warn("name removed, but a server did not remove the file's datafile (if it has one); `ferry fsck --repair` removes it",
				"op", op, "path", a.Path, "handle", a.Handle, "err", wrap(op, a.Path, err).Error())
		}
	}
}

// Rename moves oldpath to newpath, replacing a file there (whose datafiles
// are then removed as Remove removes them).
func (c *Client) Rename(ctx context.Context, oldpath, newpath string) error {
	op, err := clean("rename", oldpath)
	if err != nil {
		return err
	}
	np, err := clean("rename", newpath)
	if err != nil {
		return err
	}
	if namesDir(oldpath) || namesDir(newpath) {
		// A trailing "/" on either name asks for a directory: renaming
		// a file that way is ENOTDIR, as is a file in the new name's
		// place; a missing source is ENOENT first, as in Linux.
		r, err := c.lookup(ctx, "rename", oldpath)
		if err != nil {
			return err
		}
		if r.Attr.Type != proto.TypeDir {
			return &Error{Op: "rename", Path: oldpath, Server: -1, Err: syscall.ENOTDIR}
		}
		if err := c.dirOnly(ctx, "rename", newpath); err != nil {
			return err
		}
	}
	var r proto.RenameResp
	if err := c.metaCall(ctx, proto.OpRename, op, &proto.RenameReq{Old: op, New: np}, &r); err != nil {
		return err
	}
	if r.Replaced {
		c.removeData(ctx, "rename", &r.Attr, r.Cap)
	}
	return nil
}

// Chown sets a file's or directory's owner and group; -1 leaves one as
// it is (as os.Chown). Only root changes the owner; the owner may change
// the group to one of its own (fs.ErrPermission otherwise).
func (c *Client) Chown(ctx context.Context, path string, uid, gid int) error {
	p, err := clean("chown", path)
	if err != nil {
		return err
	}
	if err := c.dirOnly(ctx, "chown", path); err != nil {
		return err
	}
	req := &proto.SetAttrReq{Path: p}
	for _, id := range []struct {
		v    int
		bit  uint32
		dest *uint32
	}{{uid, proto.SetUID, &req.UID}, {gid, proto.SetGID, &req.GID}} {
		if id.v < -1 || int64(id.v) > math.MaxUint32 {
			return &Error{Op: "chown", Path: p, Server: -1, Err: fmt.Errorf("id %d out of range: %w", id.v, syscall.EINVAL)}
		}
		if id.v >= 0 {
			req.Mask |= id.bit
			*id.dest = uint32(id.v)
		}
	}
	if req.Mask == 0 {
		return nil
	}
	return c.metaCall(ctx, proto.OpSetAttr, p, req, &proto.OpenResp{})
}

// Chmod sets a file's or directory's permission bits (with setuid, setgid
// and sticky). Only the owner or root may.
func (c *Client) Chmod(ctx context.Context, path string, mode fs.FileMode) error {
	p, err := clean("chmod", path)
	if err != nil {
		return err
	}
	if err := c.dirOnly(ctx, "chmod", path); err != nil {
		return err
	}
	return c.metaCall(ctx, proto.OpSetAttr, p, &proto.SetAttrReq{Path: p, Mask: proto.SetMode, Mode: modeBits(mode)}, &proto.OpenResp{})
}

// StatNames is Stat from the metadata server alone, for callers that
// need a name's type, mode, owner or handle but not a file's size: no
// data server is asked, so one that is down or hung costs nothing. A
// file's Size is 0 and its SizeErr ErrSizeNotAsked.
func (c *Client) StatNames(ctx context.Context, path string) (*FileInfo, error) {
	r, err := c.lookup(ctx, "stat", path)
	if err != nil {
		return nil, err
	}
	fi := &FileInfo{attr: r.Attr}
	if r.Attr.Type == proto.TypeFile {
		fi.sizeErr = ErrSizeNotAsked
	}
	return fi, nil
}

// ErrSizeNotAsked is the SizeErr of a file's FileInfo from StatNames.
var ErrSizeNotAsked = errors.New("size not asked of the data servers")

// Stat returns a path's attributes; a file's size comes from its datafiles.
func (c *Client) Stat(ctx context.Context, path string) (*FileInfo, error) {
	r, err := c.lookup(ctx, "stat", path)
	if err != nil {
		return nil, err
	}
	if r.Attr.Type != proto.TypeFile {
		return &FileInfo{attr: r.Attr}, nil
	}
	return c.newFile(r.Attr, r.Cap).Stat(ctx)
}
