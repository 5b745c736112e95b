package proto

import (
	"path"

	"github.com/ferry-hpc/ferry/layout"
)

// Messages for POSIX-style access (the FUSE mount): a listing with every
// entry's attributes in one reply, many datafile sizes in one request, and
// the servers' storage capacity.

// ReaddirPlusResp is one page of a listing with each entry's attributes
// (OpDirPlus takes a ReaddirReq). Entries are in name order; every
// entry's Path is one component below the listed directory.
type ReaddirPlusResp struct {
	Entries []Attr
	Caps    []Cap // one per entry: a file's capability (zero for directories)
	More    bool
}

// minAttrBytes is the fewest bytes an encoded Attr takes (a one-byte path,
// an empty handle, no layout).
const minAttrBytes = 5 + 1 + 4 + 3*4 + 3*8

func (m *ReaddirPlusResp) encode(e *Encoder) {
	e.u32(uint32(len(m.Entries)))
	for i := range m.Entries {
		m.Entries[i].encode(e)
		var c Cap
		if i < len(m.Caps) {
			c = m.Caps[i]
		}
		c.encode(e)
	}
	e.bool(m.More)
}

func (m *ReaddirPlusResp) decode(d *Decoder) {
	n := d.list("entries", minAttrBytes+capBytes)
	m.Entries = make([]Attr, n)
	m.Caps = make([]Cap, n)
	dir := ""
	for i := range m.Entries {
		m.Entries[i].decode(d)
		m.Caps[i].decode(d)
		if d.err != nil {
			return
		}
		p := m.Entries[i].Path
		if p == "/" {
			d.fail("the root listed as a directory entry")
			return
		}
		if i == 0 {
			dir = path.Dir(p)
		} else if path.Dir(p) != dir {
			d.fail("entries %q and %q are in different directories", m.Entries[0].Path, p)
			return
		}
	}
	m.More = d.bool("more")
}

// CapBytes is the bytes a capability takes on the wire, for callers that
// budget a page's size.
const CapBytes = capBytes

// MaxReaddirPlusBytes bounds the encoded entries of one ReaddirPlusResp
// page, well under MaxControlBody: paths may be long.
const MaxReaddirPlusBytes = 512 << 10

// EncodedLen is the bytes a's wire form takes.
func (a *Attr) EncodedLen() int {
	var e Encoder
	a.encode(&e)
	return len(e.b)
}

// SizesReq asks one server for the sizes of many datafiles (OpSizes):
// a directory listing's files in one round trip per server.
type SizesReq struct {
	Files []DataReq
}

// minDataReqBytes is an encoded DataReq: a 36-byte handle and a layout.
const minDataReqBytes = 4 + 36 + capBytes + 8 + 3*4

func (m *SizesReq) encode(e *Encoder) {
	e.u32(uint32(len(m.Files)))
	for i := range m.Files {
		m.Files[i].encode(e)
	}
}

func (m *SizesReq) decode(d *Decoder) {
	n := d.list("files", minDataReqBytes)
	m.Files = make([]DataReq, n)
	for i := range m.Files {
		m.Files[i].decode(d)
	}
}

// SizesResp answers SizesReq: one SizeResp per file, in the request's order.
type SizesResp struct {
	Sizes []SizeResp
}

func (m *SizesResp) encode(e *Encoder) {
	e.u32(uint32(len(m.Sizes)))
	for i := range m.Sizes {
		m.Sizes[i].encode(e)
	}
}

func (m *SizesResp) decode(d *Decoder) {
	n := d.list("sizes", 24)
	m.Sizes = make([]SizeResp, n)
	for i := range m.Sizes {
		m.Sizes[i].decode(d)
	}
}

// StatfsResp is one server's storage: bytes in total, free, and free to
// unprivileged users, and inodes in total and free (OpStatfs, request
// Empty).
type StatfsResp struct {
	Bytes, Free, Avail uint64
	Files, FilesFree   uint64
}

func (m *StatfsResp) encode(e *Encoder) {
	e.u64(m.Bytes)
	e.u64(m.Free)
	e.u64(m.Avail)
	e.u64(m.Files)
	e.u64(m.FilesFree)
}

func (m *StatfsResp) decode(d *Decoder) {
	m.Bytes = d.u64("bytes")
	m.Free = d.u64("free bytes")
	m.Avail = d.u64("available bytes")
	m.Files = d.u64("files")
	m.FilesFree = d.u64("free files")
	if d.err == nil && (m.Free > m.Bytes || m.Avail > m.Bytes || m.FilesFree > m.Files) {
		d.fail("free space or inodes exceed the total")
	}
}

// SetMtimeReq sets the mtime of one server's datafile of a file
// (OpSetMtime): with the stored mtime, it lets a file's mtime be set
// earlier than its last write.
type SetMtimeReq struct {
	Handle string
	Cap    Cap // with RightOwner or RightWrite
	Layout layout.Layout
	Mtime  int64 // ns since the epoch
}

func (m *SetMtimeReq) encode(e *Encoder) {
	e.str(m.Handle)
	m.Cap.encode(e)
	encodeLayout(e, m.Layout)
	e.i64(m.Mtime)
}
func (m *SetMtimeReq) decode(d *Decoder) {
	m.Handle = decodeHandle(d)
	m.Cap.decode(d)
	m.Layout = decodeLayout(d)
	m.Mtime = d.i64("mtime")
}
