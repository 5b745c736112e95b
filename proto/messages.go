package proto

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ferry-hpc/ferry/layout"
)

// Op is a request's opcode.
type Op uint16

const (
	OpHello       Op = iota + 1 // who are you: server id, server list, defaults, fabric addresses
	OpLookup                    // metadata: path → Attr
	OpCreate                    // metadata: make a file → Attr
	OpMkdir                     // metadata: make a directory → Attr
	OpRmdir                     // metadata: remove an empty directory
	OpUnlink                    // metadata: remove a file's name → Attr of the removed file
	OpRename                    // metadata: move a name
	OpReaddir                   // metadata: list a directory, paged
	OpFetchAdd                  // metadata: atomic add to a file's shared counter → old value
	OpSetAttr                   // metadata: change mode, owner or times
	OpRead                      // data: read extents of a datafile
	OpWrite                     // data: write extents of a datafile
	OpSize                      // data: size of this server's datafile
	OpTruncate                  // data: cut or extend this server's datafile
	OpFsync                     // data: flush this server's datafile to stable storage
	OpRemove                    // data: delete this server's datafile
	OpStats                     // counters of the server
	OpDirPlus                   // metadata: list a directory with every entry's Attr, paged (READDIRPLUS)
	OpSizes                     // data: sizes of many of this server's datafiles at once
	OpStatfs                    // capacity and free space of this server's storage
	OpSetMtime                  // data: set the mtime of this server's datafile
	OpChallenge                 // a fresh nonce for the hello's credential (auth mode key)
	OpRenew                     // metadata: a fresh capability for an unexpired one
	OpDataList                  // data: list this server's datafiles, paged (fsck)
	OpFileList                  // metadata: list every file of the namespace, paged (fsck)
	OpKnown                     // metadata: which of these handles a name refers to, in one snapshot (fsck)
	OpReplySocket               // a socket for this connection's replies, passed with the reply (Unix socket connections only)
	OpLocalFile                 // data: a read-only descriptor of this server's datafile, passed on the connection (Unix socket connections with a reply socket only)
	opEnd
)

var opNames = [...]string{"", "hello", "lookup", "create", "mkdir", "rmdir", "unlink", "rename",
	"readdir", "fetchadd", "setattr", "read", "write", "size", "truncate", "fsync", "remove", "stats",
	"readdirplus", "sizes", "statfs", "setmtime", "challenge", "renew", "datalist", "filelist", "known", "replysocket", "localfile"}

func (o Op) String() string {
	if o.Valid() {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint16(o))
}

// Valid reports whether o is a known opcode.
func (o Op) Valid() bool { return o > 0 && o < opEnd }

// CarriesData reports whether frames of this opcode may carry file bytes
// (write requests, read replies), and so get the larger size cap.
func (o Op) CarriesData() bool { return o == OpRead || o == OpWrite }

// FileType of a namespace entry.
type FileType uint8

const (
	TypeFile FileType = 1
	TypeDir  FileType = 2
)

// Layout on the wire.
func encodeLayout(e *Encoder, l layout.Layout) {
	e.i64(l.StripSize)
	e.u32(uint32(l.Count))
	e.u32(uint32(l.First))
	e.u32(uint32(l.Total))
}

func decodeLayout(d *Decoder) layout.Layout {
	l := layout.Layout{
		StripSize: d.i64("strip size"),
		Count:     d.int32("server count", 0, layout.MaxServers),
		First:     d.int32("first server", 0, layout.MaxServers),
		Total:     d.int32("total servers", 0, layout.MaxServers),
	}
	if d.err == nil {
		if err := l.Validate(); err != nil {
			d.fail("%v", err)
		}
	}
	return l
}

// ValidHandle reports whether s is a file handle: a UUID in canonical
// 36-character form. Handles name datafiles, so nothing else may pass.
func ValidHandle(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func decodeHandle(d *Decoder) string {
	h := d.str("handle")
	if d.err == nil && !ValidHandle(h) {
		d.fail("handle %q is not a UUID", h)
	}
	return h
}

// MaxPath bounds a path; MaxName one component.
const (
	MaxPath = 4096
	MaxName = 255
)

// CleanPath checks a client path and returns it in canonical form: absolute,
// no empty, "." or ".." components, no NUL, no trailing slash (but "/").
// A leading "ferry:" is accepted and dropped, so MPI-IO names pass through.
func CleanPath(p string) (string, error) {
	p = strings.TrimPrefix(p, "ferry:")
	if len(p) == 0 || p[0] != '/' {
		return "", fmt.Errorf("path %s is not absolute", quoteShort(p))
	}
	if len(p) > MaxPath {
		return "", fmt.Errorf("path of %d bytes exceeds %d: %w", len(p), MaxPath, syscall.ENAMETOOLONG)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path %s contains a NUL byte", quoteShort(p))
	}
	if !utf8.ValidString(p) {
		// Names travel to tools and logs that expect text; EINVAL, as a
		// file system that stores names as UTF-8 answers.
		return "", fmt.Errorf("path %s is not valid UTF-8: %w", quoteShort(p), syscall.EINVAL)
	}
	if p == "/" {
		return p, nil
	}
	parts := strings.Split(strings.TrimSuffix(p[1:], "/"), "/")
	for _, c := range parts {
		switch {
		case c == "":
			return "", fmt.Errorf("path %s has an empty component", quoteShort(p))
		case c == "." || c == "..":
			return "", fmt.Errorf("path %s has a %q component", quoteShort(p), c)
		case len(c) > MaxName:
			return "", fmt.Errorf("path %s has a component longer than %d bytes: %w", quoteShort(p), MaxName, syscall.ENAMETOOLONG)
		}
	}
	return "/" + strings.Join(parts, "/"), nil
}

// quoteShort quotes a path for an error message, its middle cut out when
// it is long: the caller's error names the path again.
func quoteShort(p string) string {
	if len(p) > 80 {
		p = p[:56] + "..." + p[len(p)-20:]
	}
	return strconv.Quote(p)
}

func decodePath(d *Decoder) string {
	p := d.str("path")
	if d.err != nil {
		return ""
	}
	c, err := CleanPath(p)
	if err != nil {
		d.failErr(err)
	}
	return c
}

// Empty is the body of requests and replies that carry nothing.
type Empty struct{}

func (*Empty) encode(*Encoder) {}
func (*Empty) decode(*Decoder) {}

// Fabric is one fabric endpoint a server offers.
type Fabric struct {
	Provider string
	Addr     []byte
}

// HelloReq opens a session. It is the first request on every
// connection; a client that wants RMA sends its fabric addresses here, and
// the server inserts them in its address vectors once they are bound to
// the process on the other end. It also says who the client is: the
// identity it claims and a credential proving it (see Auth*).
type HelloReq struct {
	Client  string   // free text for logs: program and pid
	Fabrics []Fabric // the client's fabric endpoints
	Auth    string   // the mechanism of Cred: AuthNone, AuthMunge or AuthKey
	UID     uint32   // the claimed user (trusted only in modes key and none)
	GID     uint32
	Groups  []uint32
	Cred    []byte // a MUNGE credential, or the HMAC answer to the connection's challenge
}

// Credential mechanisms a HelloReq may carry.
const (
	AuthNone  = ""      // no credential: peer credentials, or nothing
	AuthMunge = "munge" // Cred is a MUNGE credential
	AuthKey   = "key"   // Cred is HMAC-SHA256(key, KeyProofInput(...))
)

// MaxGroups bounds the supplementary groups a hello may claim (NGROUPS_MAX
// of Linux is 65536; NFS sec=sys carries 16).
const MaxGroups = 1024

func (m *HelloReq) encode(e *Encoder) {
	e.str(m.Client)
	encodeFabrics(e, m.Fabrics)
	e.str(m.Auth)
	e.u32(m.UID)
	e.u32(m.GID)
	e.u32(uint32(len(m.Groups)))
	for _, g := range m.Groups {
		e.u32(g)
	}
	e.bytes(m.Cred)
}

func (m *HelloReq) decode(d *Decoder) {
	m.Client = d.str("client")
	m.Fabrics = decodeFabrics(d)
	m.Auth = d.str("auth")
	m.UID = d.u32("uid")
	m.GID = d.u32("gid")
	n := d.list("groups", 4)
	if n > MaxGroups {
		d.fail("%d groups, at most %d", n, MaxGroups)
		return
	}
	if n > 0 {
		m.Groups = make([]uint32, n)
		for i := range m.Groups {
			m.Groups[i] = d.u32("group")
		}
	}
	m.Cred = d.bytes("credential")
	if d.err == nil && len(m.Cred) == 0 {
		m.Cred = nil
	}
}

// KeyProofInput is what a client in auth mode key signs: the server's
// challenge and every claim of the hello, so neither can be replayed or
// swapped.
func KeyProofInput(challenge []byte, m *HelloReq) []byte {
	e := &Encoder{}
	e.str("ferry hello v1")
	e.bytes(challenge)
	e.str(m.Client)
	e.u32(m.UID)
	e.u32(m.GID)
	e.u32(uint32(len(m.Groups)))
	for _, g := range m.Groups {
		e.u32(g)
	}
	encodeFabrics(e, m.Fabrics)
	return e.b
}

// MungePayload is what a client's MUNGE credential carries: the server's
// challenge in hex, so the credential is good for that connection only.
func MungePayload(nonce []byte) []byte { return fmt.Appendf(nil, "%x", nonce) }

// Challenge is the server's nonce for one connection's hello.
type Challenge struct{ Nonce []byte }

func (m *Challenge) encode(e *Encoder) { e.bytes(m.Nonce) }
func (m *Challenge) decode(d *Decoder) { m.Nonce = d.bytes("nonce") }

func encodeFabrics(e *Encoder, fs []Fabric) {
	e.u32(uint32(len(fs)))
	for _, f := range fs {
		e.str(f.Provider)
		e.bytes(f.Addr)
	}
}

func decodeFabrics(d *Decoder) []Fabric {
	n := d.list("fabrics", 8)
	if n > 16 {
		d.fail("%d fabrics, at most 16", n)
		return nil
	}
	fs := make([]Fabric, n)
	for i := range fs {
		fs[i] = Fabric{Provider: d.str("provider"), Addr: d.bytes("fabric address")}
		if d.err == nil && (fs[i].Provider == "" || len(fs[i].Addr) == 0) {
			d.fail("empty fabric provider or address")
		}
	}
	return fs
}

// HelloResp describes the server and the file system.
type HelloResp struct {
	ServerID     int
	MetaServer   int
	Servers      []string // control addresses, indexed by server id
	DefaultStrip int64
	DefaultCount int // 0: all servers
	Strategy     string
	Fabrics      []Fabric
	// Sockets are the servers' Unix socket paths ("" for none), indexed
	// by server id: a client on a server's host connects there, so the
	// server knows which process it serves.
	Sockets []string
	// Auth is how the server authenticates connections that are not on
	// its Unix socket: "local" (it does not), "munge", "key" or "none".
	Auth string
	// Refused says why the client's fabric addresses were not accepted
	// ("" when they all were, or none were sent): the client then moves
	// bytes on the control connection.
	Refused string
	// LocalReads: the server passes datafile descriptors (OpLocalFile)
	// to clients on its Unix socket (its local_reads setting).
	LocalReads bool
}

func (m *HelloResp) encode(e *Encoder) {
	e.u32(uint32(m.ServerID))
	e.u32(uint32(m.MetaServer))
	e.u32(uint32(len(m.Servers)))
	for _, s := range m.Servers {
		e.str(s)
	}
	e.i64(m.DefaultStrip)
	e.u32(uint32(m.DefaultCount))
	e.str(m.Strategy)
	encodeFabrics(e, m.Fabrics)
	e.u32(uint32(len(m.Sockets)))
	for _, s := range m.Sockets {
		e.str(s)
	}
	e.str(m.Auth)
	e.str(m.Refused)
	e.bool(m.LocalReads)
}

func (m *HelloResp) decode(d *Decoder) {
	m.ServerID = d.int32("server id", 0, layout.MaxServers-1)
	m.MetaServer = d.int32("metadata server", 0, layout.MaxServers-1)
	n := d.list("servers", 4)
	if n == 0 && d.err == nil {
		d.fail("empty server list")
	}
	m.Servers = make([]string, n)
	for i := range m.Servers {
		m.Servers[i] = d.str("server address")
	}
	m.DefaultStrip = d.i64("default strip")
	m.DefaultCount = d.int32("default count", 0, layout.MaxServers)
	m.Strategy = d.str("strategy")
	m.Fabrics = decodeFabrics(d)
	ns := d.list("sockets", 4)
	if ns != 0 && ns != n && d.err == nil {
		d.fail("%d sockets for %d servers", ns, n)
	}
	if ns > 0 && d.err == nil {
		m.Sockets = make([]string, ns)
		for i := range m.Sockets {
			m.Sockets[i] = d.str("socket")
		}
	}
	m.Auth = d.str("auth")
	m.Refused = d.str("refused")
	m.LocalReads = d.bool("local reads")
	if d.err == nil && (m.ServerID >= n || m.MetaServer >= n) {
		d.fail("server id %d or metadata server %d outside the %d-server list", m.ServerID, m.MetaServer, n)
	}
}

// PathReq names one path.
type PathReq struct{ Path string }

func (m *PathReq) encode(e *Encoder) { e.str(m.Path) }
func (m *PathReq) decode(d *Decoder) { m.Path = decodePath(d) }

// Attr is a namespace entry's attributes.
type Attr struct {
	Path   string
	Type   FileType
	Handle string // files only
	Mode   uint32 // permission bits
	UID    uint32
	GID    uint32
	Atime  int64 // ns since the epoch
	Mtime  int64
	Ctime  int64
	Layout layout.Layout // files only
}

func (m *Attr) encode(e *Encoder) {
	e.str(m.Path)
	e.u8(uint8(m.Type))
	e.str(m.Handle)
	e.u32(m.Mode)
	e.u32(m.UID)
	e.u32(m.GID)
	e.i64(m.Atime)
	e.i64(m.Mtime)
	e.i64(m.Ctime)
	if m.Type == TypeFile {
		encodeLayout(e, m.Layout)
	}
}

func (m *Attr) decode(d *Decoder) {
	m.Path = decodePath(d)
	m.Type = FileType(d.u8("type"))
	switch m.Type {
	case TypeFile:
		m.Handle = decodeHandle(d)
	case TypeDir:
		m.Handle = d.str("handle")
	default:
		d.fail("unknown file type %d", m.Type)
	}
	m.Mode = d.u32("mode")
	m.UID = d.u32("uid")
	m.GID = d.u32("gid")
	m.Atime = d.i64("atime")
	m.Mtime = d.i64("mtime")
	m.Ctime = d.i64("ctime")
	if m.Type == TypeFile {
		m.Layout = decodeLayout(d)
	}
}

// CreateReq makes a file or a directory. The new entry belongs to the
// caller; UID and GID are honoured only as far as chown would allow the
// caller (root: any owner; others: a group they are in).
type CreateReq struct {
	Path      string
	Mode      uint32
	UID, GID  uint32
	Exclusive bool  // fail with EEXIST when the name exists
	StripSize int64 // 0: the file system default
	Count     int   // servers to stripe over; 0: the default
}

func (m *CreateReq) encode(e *Encoder) {
	e.str(m.Path)
	e.u32(m.Mode)
	e.u32(m.UID)
	e.u32(m.GID)
	e.bool(m.Exclusive)
	e.i64(m.StripSize)
	e.u32(uint32(m.Count))
}

func (m *CreateReq) decode(d *Decoder) {
	m.Path = decodePath(d)
	m.Mode = d.u32("mode")
	m.UID = d.u32("uid")
	m.GID = d.u32("gid")
	m.Exclusive = d.bool("exclusive")
	m.StripSize = d.nonneg("strip size")
	m.Count = d.int32("server count", 0, layout.MaxServers)
}

// RenameReq moves Old to New, replacing a file at New.
type RenameReq struct{ Old, New string }

func (m *RenameReq) encode(e *Encoder) { e.str(m.Old); e.str(m.New) }
func (m *RenameReq) decode(d *Decoder) { m.Old = decodePath(d); m.New = decodePath(d) }

// SetAttrReq changes what its mask says.
type SetAttrReq struct {
	Path     string
	Mask     uint32 // SetMode | SetMtime | SetUID | SetGID | SetAtime
	Mode     uint32
	Mtime    int64
	UID, GID uint32
	Atime    int64
}

const (
	SetMode  uint32 = 1 << 0
	SetMtime uint32 = 1 << 1
	SetUID   uint32 = 1 << 2
	SetGID   uint32 = 1 << 3
	SetAtime uint32 = 1 << 4

	setAll = SetMode | SetMtime | SetUID | SetGID | SetAtime
)

func (m *SetAttrReq) encode(e *Encoder) {
	e.str(m.Path)
	e.u32(m.Mask)
	e.u32(m.Mode)
	e.i64(m.Mtime)
	e.u32(m.UID)
	e.u32(m.GID)
	e.i64(m.Atime)
}

func (m *SetAttrReq) decode(d *Decoder) {
	m.Path = decodePath(d)
	m.Mask = d.u32("mask")
	m.Mode = d.u32("mode")
	m.Mtime = d.i64("mtime")
	m.UID = d.u32("uid")
	m.GID = d.u32("gid")
	m.Atime = d.i64("atime")
	if d.err == nil && m.Mask&^setAll != 0 {
		d.fail("unknown setattr mask bits %#x", m.Mask&^setAll)
	}
}

// ReaddirReq lists names of Path after After (exclusive), at most Max.
type ReaddirReq struct {
	Path  string
	After string
	Max   int
}

func (m *ReaddirReq) encode(e *Encoder) { e.str(m.Path); e.str(m.After); e.u32(uint32(m.Max)) }
func (m *ReaddirReq) decode(d *Decoder) {
	m.Path = decodePath(d)
	m.After = d.str("after")
	m.Max = d.int32("max", 1, MaxList)
}

// Dirent is one name in a directory.
type Dirent struct {
	Name string
	Type FileType
}

// ReaddirResp is one page of a listing.
type ReaddirResp struct {
	Entries []Dirent
	More    bool
}

func (m *ReaddirResp) encode(e *Encoder) {
	e.u32(uint32(len(m.Entries)))
	for _, de := range m.Entries {
		e.str(de.Name)
		e.u8(uint8(de.Type))
	}
	e.bool(m.More)
}

func (m *ReaddirResp) decode(d *Decoder) {
	n := d.list("entries", 5)
	m.Entries = make([]Dirent, n)
	for i := range m.Entries {
		m.Entries[i] = Dirent{Name: d.str("name"), Type: FileType(d.u8("type"))}
		if d.err == nil && (m.Entries[i].Name == "" || strings.ContainsAny(m.Entries[i].Name, "/\x00")) {
			d.fail("bad entry name %q", m.Entries[i].Name)
		}
	}
	m.More = d.bool("more")
}

// FetchAddReq adds Delta to one of the file's shared counters: Counter 0
// is the file's own, which every client shares; others are made by Make
// (MPI-IO's shared file pointer of one collective open) and removed by
// Drop or with the file.
type FetchAddReq struct {
	Handle  string
	Cap     Cap // with RightRead or RightWrite
	Counter uint64
	Delta   int64
	Set     bool // store Delta instead of adding it
	Make    bool // with Set: make the counter (not 0) if it does not exist
	Drop    bool // remove the counter (not 0), answering its last value
}

func (m *FetchAddReq) encode(e *Encoder) {
	e.str(m.Handle)
	m.Cap.encode(e)
	e.u64(m.Counter)
	e.i64(m.Delta)
	e.bool(m.Set)
	e.bool(m.Make)
	e.bool(m.Drop)
}
func (m *FetchAddReq) decode(d *Decoder) {
	m.Handle = decodeHandle(d)
	m.Cap.decode(d)
	m.Counter = d.u64("counter")
	m.Delta = d.i64("delta")
	m.Set = d.bool("set")
	m.Make = d.bool("make")
	m.Drop = d.bool("drop")
	switch {
	case d.err != nil:
	case m.Drop && (m.Set || m.Make || m.Counter == 0):
		d.fail("drop of counter %d: only a made counter is dropped, and not set or made at once", m.Counter)
	case m.Make && (!m.Set || m.Counter == 0):
		d.fail("make of counter %d: a made counter is not 0, and is made by a set", m.Counter)
	}
}

// Int carries one integer.
type Int struct{ V int64 }

func (m *Int) encode(e *Encoder) { e.i64(m.V) }
func (m *Int) decode(d *Decoder) { m.V = d.i64("value") }

// Transport says how a data request's bytes travel.
type Transport uint8

const (
	Inline Transport = 0 // in the frames on the control connection
	RDMA   Transport = 1 // one-sided RMA into or out of Remote
)

// Extent is a range of a datafile and where its bytes sit in the client's
// buffer (RDMA) or in the frame's data (inline).
type Extent struct {
	Local  int64 // offset in the datafile
	Len    int64
	BufOff uint64 // offset in the client's window
}

// RemoteBuf is a client window for RMA: address and key in the
// provider's terms, and its length.
type RemoteBuf struct{ Addr, Key, Len uint64 }

// MaxIOBytes bounds the bytes one data request may move.
const MaxIOBytes = MaxDataBody

// IOReq reads or writes extents of one datafile.
type IOReq struct {
	Handle    string
	Cap       Cap // RightRead to read, RightWrite to write
	Layout    layout.Layout
	Transport Transport
	Provider  string    // RDMA: which of the server's fabrics
	Strategy  string    // RDMA: requested strategy, "" for the server's choice
	Remote    RemoteBuf // RDMA: the client's window
	Extents   []Extent
	// Budget is how long the server may work on the request, counted
	// from its arrival: the client's remaining time less a margin for
	// the trip. No RMA is posted after it, so a buffer the client has
	// given up on is never touched; 0 leaves the server's own timeout.
	Budget time.Duration
	// Deadline is the same limit on the client's clock (Unix ns, 0 for
	// none). Only a server on the client's host (a host-local provider,
	// one clock) holds to it: it also covers the time a request waited
	// unread, say in a stopped server's socket.
	Deadline int64
}

// Total is the bytes the request moves.
func (m *IOReq) Total() int64 {
	var n int64
	for _, x := range m.Extents {
		n += x.Len
	}
	return n
}

func (m *IOReq) encode(e *Encoder) {
	e.str(m.Handle)
	m.Cap.encode(e)
	encodeLayout(e, m.Layout)
	e.u8(uint8(m.Transport))
	e.str(m.Provider)
	e.str(m.Strategy)
	e.u64(m.Remote.Addr)
	e.u64(m.Remote.Key)
	e.u64(m.Remote.Len)
	e.u32(uint32(len(m.Extents)))
	for _, x := range m.Extents {
		e.i64(x.Local)
		e.i64(x.Len)
		e.u64(x.BufOff)
	}
	e.u32(uint32(min(max(m.Budget/time.Millisecond, 0), math.MaxUint32)))
	e.i64(m.Deadline)
}

func (m *IOReq) decode(d *Decoder) {
	m.Handle = decodeHandle(d)
	m.Cap.decode(d)
	m.Layout = decodeLayout(d)
	m.Transport = Transport(d.u8("transport"))
	m.Provider = d.str("provider")
	m.Strategy = d.str("strategy")
	m.Remote = RemoteBuf{Addr: d.u64("remote addr"), Key: d.u64("remote key"), Len: d.u64("remote len")}
	n := d.list("extents", 24)
	m.Extents = make([]Extent, n)
	var total int64
	for i := range m.Extents {
		x := Extent{Local: d.nonneg("extent offset"), Len: d.nonneg("extent length"), BufOff: d.u64("buffer offset")}
		if d.err != nil {
			return
		}
		if x.Local > layout.MaxFileSize || x.Len > layout.MaxFileSize-x.Local {
			d.fail("extent [%d, +%d) past the file size limit", x.Local, x.Len)
			return
		}
		total += x.Len
		if total > MaxIOBytes {
			d.fail("request moves more than %d bytes", MaxIOBytes)
			return
		}
		m.Extents[i] = x
	}
	m.Budget = time.Duration(d.u32("budget")) * time.Millisecond
	m.Deadline = d.nonneg("deadline")
	switch m.Transport {
	case Inline:
	case RDMA:
		for _, x := range m.Extents {
			if x.BufOff > m.Remote.Len || uint64(x.Len) > m.Remote.Len-x.BufOff {
				d.fail("extent of %d bytes at buffer offset %d outside the %d-byte window", x.Len, x.BufOff, m.Remote.Len)
				return
			}
		}
	default:
		d.fail("unknown transport %d", m.Transport)
	}
}

// ReadResp answers OpRead. On the inline transport the file bytes follow
// it in the same frame, Lens[i] bytes for extent i, back to back.
type ReadResp struct {
	LogicalEnd int64   // logical end of this server's datafile (file is at least this long)
	Lens       []int64 // bytes delivered per extent; short at the datafile's end
	Strategy   string  // the strategy that served it
}

func (m *ReadResp) encode(e *Encoder) {
	e.i64(m.LogicalEnd)
	e.u32(uint32(len(m.Lens)))
	for _, n := range m.Lens {
		e.i64(n)
	}
	e.str(m.Strategy)
}

func (m *ReadResp) decode(d *Decoder) {
	m.LogicalEnd = d.nonneg("logical end")
	n := d.list("lengths", 8)
	m.Lens = make([]int64, n)
	for i := range m.Lens {
		m.Lens[i] = d.nonneg("length")
	}
	m.Strategy = d.str("strategy")
}

// DataReq names one datafile.
type DataReq struct {
	Handle string
	Cap    Cap // any rights for size and fsync; RightRemove for remove
	Layout layout.Layout
}

func (m *DataReq) encode(e *Encoder) { e.str(m.Handle); m.Cap.encode(e); encodeLayout(e, m.Layout) }
func (m *DataReq) decode(d *Decoder) {
	m.Handle = decodeHandle(d)
	m.Cap.decode(d)
	m.Layout = decodeLayout(d)
}

// SizeResp describes one server's datafile.
type SizeResp struct {
	LocalSize  int64
	LogicalEnd int64
	Mtime      int64
}

func (m *SizeResp) encode(e *Encoder) { e.i64(m.LocalSize); e.i64(m.LogicalEnd); e.i64(m.Mtime) }
func (m *SizeResp) decode(d *Decoder) {
	m.LocalSize = d.nonneg("local size")
	m.LogicalEnd = d.nonneg("logical end")
	m.Mtime = d.i64("mtime")
}

// TruncateReq sets the file's logical size; each server cuts or extends
// its datafile to its share.
type TruncateReq struct {
	Handle string
	Cap    Cap // with RightWrite
	Layout layout.Layout
	Size   int64
}

func (m *TruncateReq) encode(e *Encoder) {
	e.str(m.Handle)
	m.Cap.encode(e)
	encodeLayout(e, m.Layout)
	e.i64(m.Size)
}
func (m *TruncateReq) decode(d *Decoder) {
	m.Handle = decodeHandle(d)
	m.Cap.decode(d)
	m.Layout = decodeLayout(d)
	m.Size = d.nonneg("size")
	if d.err == nil && m.Size > layout.MaxFileSize {
		d.fail("size %d past the file size limit", m.Size)
	}
}

// Stats is a server's counters by name.
type Stats struct {
	Names  []string
	Values []int64
}

func (m *Stats) encode(e *Encoder) {
	e.u32(uint32(len(m.Names)))
	for i := range m.Names {
		e.str(m.Names[i])
		e.i64(m.Values[i])
	}
}

func (m *Stats) decode(d *Decoder) {
	n := d.list("stats", 12)
	m.Names = make([]string, n)
	m.Values = make([]int64, n)
	for i := 0; i < n; i++ {
		m.Names[i] = d.str("name")
		m.Values[i] = d.i64("value")
	}
}

// ErrorBody is the body of a reply with a non-zero status.
type ErrorBody struct{ Msg string }

func (m *ErrorBody) encode(e *Encoder) { e.str(m.Msg) }
func (m *ErrorBody) decode(d *Decoder) { m.Msg = d.str("message") }

// RenameResp says whether Rename replaced a file, and which: the client
// removes the replaced file's datafiles with Cap (RightRemove).
type RenameResp struct {
	Replaced bool
	Attr     Attr // valid when Replaced
	Cap      Cap  // valid when Replaced
}

func (m *RenameResp) encode(e *Encoder) {
	e.bool(m.Replaced)
	if m.Replaced {
		m.Attr.encode(e)
		m.Cap.encode(e)
	}
}

func (m *RenameResp) decode(d *Decoder) {
	m.Replaced = d.bool("replaced")
	if m.Replaced {
		m.Attr.decode(d)
		m.Cap.decode(d)
	}
}
