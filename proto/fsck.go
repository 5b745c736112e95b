package proto

// Messages for checking a file system (ferry fsck): every datafile a
// server holds, every file the namespace names, and which handles are
// named at one instant.

// MaxDataListPage bounds the entries of one DataListResp page: 56 bytes
// each keeps a page far under MaxControlBody.
const MaxDataListPage = 8192

// MaxHandlesKnown bounds the handles of one HandlesKnownReq: 40 bytes
// each keeps a request far under MaxControlBody.
const MaxHandlesKnown = 8192

// DataListReq asks a server for its datafiles with handles after After
// (exclusive; "" from the start), at most Max of them (OpDataList).
type DataListReq struct {
	After string
	Max   int
}

func (m *DataListReq) encode(e *Encoder) { e.str(m.After); e.u32(uint32(m.Max)) }
func (m *DataListReq) decode(d *Decoder) {
	m.After = d.str("after")
	if d.err == nil && m.After != "" && !ValidHandle(m.After) {
		d.fail("after %q is not a handle", m.After)
	}
	m.Max = d.int32("max", 1, MaxDataListPage)
}

// Datafile is one datafile a server holds: its file's handle, its size
// and modification time (ns since the epoch).
type Datafile struct {
	Handle string
	Size   int64
	Mtime  int64
}

// DataListResp is one page of a server's datafiles in handle order.
type DataListResp struct {
	Files []Datafile
	More  bool
}

func (m *DataListResp) encode(e *Encoder) {
	e.u32(uint32(len(m.Files)))
	for _, f := range m.Files {
		e.str(f.Handle)
		e.i64(f.Size)
		e.i64(f.Mtime)
	}
	e.bool(m.More)
}

func (m *DataListResp) decode(d *Decoder) {
	n := d.list("datafiles", 4+36+16)
	if n > MaxDataListPage {
		d.fail("%d datafiles in a page, at most %d", n, MaxDataListPage)
		return
	}
	m.Files = make([]Datafile, n)
	for i := range m.Files {
		m.Files[i] = Datafile{Handle: decodeHandle(d), Size: d.nonneg("size"), Mtime: d.i64("mtime")}
		if d.err == nil && i > 0 && m.Files[i].Handle <= m.Files[i-1].Handle {
			d.fail("datafiles out of order: %s after %s", m.Files[i].Handle, m.Files[i-1].Handle)
		}
	}
	m.More = d.bool("more")
}

// FileListReq asks the metadata server for the files of the whole
// namespace after the path After ("" from the start), at most Max of them
// (OpFileList). Pages follow the store's key order, not path order.
type FileListReq struct {
	After string
	Max   int
}

func (m *FileListReq) encode(e *Encoder) { e.str(m.After); e.u32(uint32(m.Max)) }
func (m *FileListReq) decode(d *Decoder) {
	if m.After = d.str("after"); d.err == nil && m.After != "" {
		c, err := CleanPath(m.After)
		if err != nil {
			d.failErr(err)
		}
		m.After = c
	}
	m.Max = d.int32("max", 1, MaxList)
}

// FileListResp is one page of files, each with its attributes; Last is
// the path to resume after (the last entry looked at, which need not be
// a file), valid when More.
type FileListResp struct {
	Files []Attr
	Last  string
	More  bool
}

func (m *FileListResp) encode(e *Encoder) {
	e.u32(uint32(len(m.Files)))
	for i := range m.Files {
		m.Files[i].encode(e)
	}
	e.str(m.Last)
	e.bool(m.More)
}

func (m *FileListResp) decode(d *Decoder) {
	n := d.list("files", minAttrBytes)
	m.Files = make([]Attr, n)
	for i := range m.Files {
		m.Files[i].decode(d)
		if d.err == nil && m.Files[i].Type != TypeFile {
			d.fail("%s listed as a file but is not one", m.Files[i].Path)
		}
	}
	m.Last = d.str("last")
	m.More = d.bool("more")
	if d.err == nil && m.More {
		if _, err := CleanPath(m.Last); err != nil {
			d.failErr(err)
		}
	}
}

// HandlesKnownReq asks the metadata server which of Handles a name
// refers to (OpKnown). It answers from one snapshot of the
// namespace, so a handle it calls unknown named no file at that instant,
// and never will again: handles are made once, at create.
type HandlesKnownReq struct {
	Handles []string
}

func (m *HandlesKnownReq) encode(e *Encoder) {
	e.u32(uint32(len(m.Handles)))
	for _, h := range m.Handles {
		e.str(h)
	}
}

func (m *HandlesKnownReq) decode(d *Decoder) {
	n := d.list("handles", 4+36)
	if n > MaxHandlesKnown {
		d.fail("%d handles, at most %d", n, MaxHandlesKnown)
		return
	}
	m.Handles = make([]string, n)
	for i := range m.Handles {
		m.Handles[i] = decodeHandle(d)
	}
}

// HandlesKnownResp answers HandlesKnownReq, one flag per handle in the
// request's order.
type HandlesKnownResp struct {
	Known []bool
}

func (m *HandlesKnownResp) encode(e *Encoder) {
	e.u32(uint32(len(m.Known)))
	for _, k := range m.Known {
		e.bool(k)
	}
}

func (m *HandlesKnownResp) decode(d *Decoder) {
	n := d.list("flags", 1)
	m.Known = make([]bool, n)
	for i := range m.Known {
		m.Known[i] = d.bool("known")
	}
}
