// Package config reads and writes Ferry's configuration file (TOML): the
// servers of one file system, their storage, and the defaults new files
// get. Servers, the CLI and the C library all read the same file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ferry-hpc/ferry/internal/portrange"
	"github.com/ferry-hpc/ferry/layout"
)

// DefaultStripSize is the strip size new files get when neither the
// config nor the caller chooses one (PVFS2 and Lustre use 64 KiB to 1 MiB;
// 1 MiB keeps per-request overhead small for large sequential I/O).
const DefaultStripSize = 1 << 20

// LocalPath is where `ferry local up` writes its config.
const LocalPath = ".ferry-local/ferry.toml"

// SystemPath is the host-wide config: the full config on server hosts,
// a client file (Client) on client hosts; clients look here last.
const SystemPath = "/etc/ferry/ferry.toml"

// ErrInvalid is wrapped by every error about a config that does not parse
// or does not describe a usable file system (as opposed to one that cannot
// be read).
var ErrInvalid = errors.New("invalid config")

// Config is one file system.
type Config struct {
	// StripSize is the default strip size of new files, in bytes.
	StripSize int64 `toml:"strip_size,omitzero"`
	// StripCount is the default number of servers a new file spans; 0 means all.
	StripCount int `toml:"strip_count,omitzero"`
	// MetadataServer is the id of the server that runs the metadata service.
	MetadataServer int `toml:"metadata_server,omitzero"`
	// Timeout bounds every network wait of clients and servers ("30s").
	Timeout Duration `toml:"timeout,omitempty"`
	// Auth is how servers learn who a client is: "local" (peer
	// credentials of local clients only), "munge", "key" (hosts that hold
	// KeyFile are trusted to state their user), or "none" (tests on
	// loopback only). Empty means "local" (see AuthMode).
	Auth string `toml:"auth,omitempty"`
	// KeyFile is the file system's secret (see ReadKey): it signs the
	// capabilities the metadata server issues and, with Auth "key",
	// authenticates hosts. Every server needs it; clients only in mode "key".
	KeyFile string `toml:"key_file,omitempty"`
	// MungeSocket is munged's socket, for Auth "munge" (default: MUNGE's own).
	MungeSocket string `toml:"munge_socket,omitempty"`
	// RootSquash makes servers treat requests from uid 0 as from user
	// nobody (65534), so root on a client is not root of the file system.
	RootSquash bool `toml:"root_squash,omitempty"`
	// Limits on client connections, per server; 0 means the default
	// (see the Default* constants below).
	MaxConns        int      `toml:"max_conns,omitzero"`          // connections a server holds
	MaxConnsPerHost int      `toml:"max_conns_per_host,omitzero"` // of them, from one client address
	IdleTimeout     Duration `toml:"idle_timeout,omitempty"`      // a connection with nothing in flight closes after this long
	// Servers, indexed by id.
	Servers []Server `toml:"server"`
}

// Defaults of the connection limits. At the limit a server closes its
// longest-idle connection to make room, and refuses a new one only when
// none is idle; a client whose idle connection was closed redials.
const (
	DefaultMaxConns        = 8192
	DefaultMaxConnsPerHost = 2048
	DefaultIdleTimeout     = 5 * time.Minute
)

// Server is one I/O server.
type Server struct {
	ID int `toml:"id"`
	// Address is the advertised host:port of the control connection: what
	// clients dial and what servers hand them in the hello. It must be an
	// address other hosts can reach (not 0.0.0.0); its host also names the
	// interface the fabric binds unless fabric_interface says otherwise.
	Address string `toml:"address"`
	// Bind is the host:port the control listener binds (default: Address),
	// e.g. "0.0.0.0:7000" to accept on every interface.
	Bind    string `toml:"bind,omitempty"`
	Storage string `toml:"storage"` // directory for datafiles (and metadata)
	// Socket is the Unix socket clients on the server's host connect to,
	// so the server knows which process it serves (default: ferryd.sock in
	// Storage, which only the server's user can reach).
	Socket string `toml:"socket,omitempty"`
	// Strategy that serves data: auto, sockets, copy, pipeline, sendfile.
	Strategy string `toml:"strategy,omitempty"`
	// Provider is the libfabric provider: auto, shm, tcp, none (sockets only).
	Provider string `toml:"provider,omitempty"`
	// Interface is the address or interface name the fabric binds to for
	// networked providers (default: the host of Address).
	Interface string `toml:"fabric_interface,omitempty"`
	// MetricsAddress is host:port of the server's Prometheus endpoint
	// (/metrics); empty (the default) serves none.
	MetricsAddress string `toml:"metrics_address,omitempty"`
	// FabricPorts is the port or range ("7100-7115") a networked fabric
	// endpoint listens on, the first free one taken (default: any port,
	// which no firewall can plan for).
	FabricPorts string `toml:"fabric_ports,omitempty"`
	// PoolBytes is the registered memory the server keeps for bounce
	// buffers, per fabric (default 64 MiB).
	PoolBytes int64 `toml:"pool_bytes,omitzero"`
	// ChunkSize is the size S of one bounce buffer (default 1 MiB).
	ChunkSize int64 `toml:"chunk_size,omitzero"`
	// PipelineDepth is K, the bounce buffers one request keeps in flight (default 8).
	PipelineDepth int `toml:"pipeline_depth,omitzero"`
	// AutoSendfile fixes how strategy auto serves resident data: true by
	// sendfile (RMA straight from or into the datafile's mapping), false by
	// pipeline. Unset, the server measures both ways' copy cost when it
	// starts (else at its first request) and takes sendfile unless
	// pipeline is more than 10 % cheaper, writes over pages written back
	// since their last write going by pipeline (pipeline on providers whose
	// registration pins memory, where a whole-file registration would read
	// the file in), since which wins differs between machines
	// (bench/results/2026-12-06d).
	AutoSendfile *bool `toml:"auto_sendfile,omitempty"`
	// SpinWait is how long a connection's read loop polls for the next
	// request after one, before its thread sleeps, while that
	// connection's recent requests came that fast (a client making small
	// requests one after another to this server): 0 is the default,
	// 20µs; a negative duration never polls.
	SpinWait Duration `toml:"spin_wait,omitempty"`
	// LocalReads lets a client on this host read the datafiles of files
	// it may read by itself, through read-only descriptors the server
	// passes on the Unix socket (default true): such a read is one copy
	// from the page cache in the client, with no request to the server.
	// false serves every read through the server.
	LocalReads *bool `toml:"local_reads,omitempty"`
}

// LocalReadsAllowed is LocalReads with its default.
func (s Server) LocalReadsAllowed() bool { return s.LocalReads == nil || *s.LocalReads }

// SocketPath is the server's Unix socket: Socket, else ferryd.sock in its
// storage directory.
func (s Server) SocketPath() string {
	if s.Socket != "" {
		return s.Socket
	}
	return filepath.Join(s.Storage, "ferryd.sock")
}

// Auth modes (see Config.Auth).
const (
	AuthLocal = "local"
	AuthMunge = "munge"
	AuthKey   = "key"
	AuthNone  = "none"
)

// AuthMode is the configured auth mode, AuthLocal when none is set.
func (c *Config) AuthMode() string {
	if c.Auth == "" {
		return AuthLocal
	}
	return c.Auth
}

// Defaults of the RDMA data path (pool, bounce buffer size, pipeline depth).
const (
	DefaultPoolBytes     = 64 << 20
	DefaultChunkSize     = 1 << 20
	DefaultPipelineDepth = 8
)

// Duration is a time.Duration written as "30s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses "30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// DefaultTimeout bounds network waits when the config says nothing.
const DefaultTimeout = 30 * time.Second

// Load reads and checks a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%w %s: unknown key %q", ErrInvalid, path, und[0].String())
	}
	c.fillDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	return &c, nil
}

func (c *Config) fillDefaults() {
	for i := range c.Servers {
		s := &c.Servers[i]
		if s.PoolBytes == 0 {
			s.PoolBytes = DefaultPoolBytes
		}
		if s.ChunkSize == 0 {
			s.ChunkSize = DefaultChunkSize
		}
		if s.PipelineDepth == 0 {
			s.PipelineDepth = DefaultPipelineDepth
		}
	}
	if c.StripSize == 0 {
		c.StripSize = DefaultStripSize
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = DefaultTimeout
	}
}

// Validate checks that the config describes a usable file system; its
// errors wrap ErrInvalid. Defaults are applied to a copy first, so a
// config that leaves them out (as Generate writes it) validates.
func (c *Config) Validate() error {
	v := *c
	v.Servers = append([]Server(nil), c.Servers...)
	v.fillDefaults()
	if err := v.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (c *Config) validate() error {
	if len(c.Servers) == 0 {
		return errors.New("no [[server]] entries")
	}
	if len(c.Servers) > layout.MaxServers {
		return fmt.Errorf("%d servers, at most %d", len(c.Servers), layout.MaxServers)
	}
	for i, s := range c.Servers {
		if s.ID != i {
			return fmt.Errorf("server entry %d has id %d: ids must be 0..%d in order", i, s.ID, len(c.Servers)-1)
		}
		host, port, err := net.SplitHostPort(s.Address)
		if err == nil {
			err = checkPort(port)
		}
		if err != nil {
			return fmt.Errorf("server %d: address %q: %w", i, s.Address, err)
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("server %d: address %q is not one clients can dial: set address to this host's name or network address and bind = %q", i, s.Address, s.Address)
		}
		if s.Bind != "" {
			_, port, err := net.SplitHostPort(s.Bind)
			if err == nil {
				err = checkPort(port)
			}
			if err != nil {
				return fmt.Errorf("server %d: bind %q: %w", i, s.Bind, err)
			}
		}
		if _, err := portrange.Parse(s.FabricPorts); err != nil {
			return fmt.Errorf("server %d: fabric_ports: %w", i, err)
		}
		if s.Storage == "" {
			return fmt.Errorf("server %d: no storage directory", i)
		}
		if s.ChunkSize < 4096 || s.ChunkSize > 64<<20 || s.ChunkSize%4096 != 0 {
			return fmt.Errorf("server %d: chunk_size %d: want a multiple of 4096 in [4 KiB, 64 MiB]", i, s.ChunkSize)
		}
		if s.PoolBytes < s.ChunkSize || s.PoolBytes > 64<<30 {
			return fmt.Errorf("server %d: pool_bytes %d: want at least one chunk (%d) and at most 64 GiB", i, s.PoolBytes, s.ChunkSize)
		}
		if s.PipelineDepth < 1 || s.PipelineDepth > 1024 {
			return fmt.Errorf("server %d: pipeline_depth %d outside 1..1024", i, s.PipelineDepth)
		}
		if s.SpinWait.Duration > time.Millisecond {
			return fmt.Errorf("server %d: spin_wait %v: want at most 1ms (a polling thread holds a CPU; negative: never poll)", i, s.SpinWait.Duration)
		}
	}
	if err := c.checkDistinct(); err != nil {
		return err
	}
	if c.MetadataServer < 0 || c.MetadataServer >= len(c.Servers) {
		return fmt.Errorf("metadata_server %d is not a server id", c.MetadataServer)
	}
	if c.StripCount < 0 || c.StripCount > len(c.Servers) {
		return fmt.Errorf("strip_count %d outside 0..%d", c.StripCount, len(c.Servers))
	}
	l := layout.Layout{StripSize: c.StripSize, Count: 1, Total: len(c.Servers)}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("strip_size: %w", err)
	}
	if c.Timeout.Duration < 0 {
		return fmt.Errorf("negative timeout %v", c.Timeout.Duration)
	}
	switch c.AuthMode() {
	case AuthLocal, AuthMunge, AuthNone:
	case AuthKey:
		if c.KeyFile == "" {
			return errors.New("auth \"key\" needs key_file")
		}
	default:
		return fmt.Errorf("auth %q: want local, munge, key or none", c.Auth)
	}
	if c.MaxConns < 0 || c.MaxConnsPerHost < 0 || c.IdleTimeout.Duration < 0 {
		return fmt.Errorf("negative connection limit (max_conns %d, max_conns_per_host %d, idle_timeout %v)",
			c.MaxConns, c.MaxConnsPerHost, c.IdleTimeout.Duration)
	}
	return nil
}

// checkPort: a port clients can dial and a server can bind, a number in
// 1..65535 (not 0, which binds anywhere, nor a service name).
func checkPort(p string) error {
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want a number in 1..65535", p)
	}
	return nil
}

// checkDistinct refuses two servers at one address, and two servers on
// one host with one storage directory, socket or bind address: the second
// server of such a pair either fails late (its bind) or, with a shared
// storage directory, writes its strips into the first one's datafiles,
// and every read of them comes back wrong. Hosts are compared as written
// in the addresses; the storage directory's lock (ferryd.lock) catches
// the pairs that names alone cannot tell.
func (c *Config) checkDistinct() error {
	hostOf := func(s Server) string {
		h, _, _ := net.SplitHostPort(s.Address)
		return h
	}
	for j, b := range c.Servers {
		for i, a := range c.Servers[:j] {
			if a.Address == b.Address {
				return fmt.Errorf("servers %d and %d have the same address %q", i, j, a.Address)
			}
			if hostOf(a) != hostOf(b) {
				continue
			}
			switch {
			case filepath.Clean(a.Storage) == filepath.Clean(b.Storage):
				return fmt.Errorf("servers %d and %d on host %s have the same storage %q: each server needs its own directory", i, j, hostOf(a), a.Storage)
			case filepath.Clean(a.SocketPath()) == filepath.Clean(b.SocketPath()):
				return fmt.Errorf("servers %d and %d on host %s have the same socket %q", i, j, hostOf(a), a.SocketPath())
			case a.BindAddress() == b.BindAddress():
				return fmt.Errorf("servers %d and %d on host %s bind the same address %q", i, j, hostOf(a), a.BindAddress())
			}
		}
	}
	return nil
}

// Encode writes c as TOML.
func (c *Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Ferry file system configuration.\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Generate builds a config for servers at addrs, each storing under
// storage/server<id>.
func Generate(addrs []string, storage string, stripSize int64) (*Config, error) {
	abs, err := filepath.Abs(storage)
	if err != nil {
		return nil, err
	}
	c := &Config{StripSize: stripSize}
	if stripSize == DefaultStripSize {
		c.StripSize = 0 // a default is not frozen into the file
	}
	for i, a := range addrs {
		c.Servers = append(c.Servers, Server{
			ID: i, Address: a, Storage: filepath.Join(abs, fmt.Sprintf("server%d", i)),
		})
	}
	return c, c.Validate()
}
