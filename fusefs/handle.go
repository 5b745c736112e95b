package fusefs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/proto"
)

// handle is an open file: a clientlib File, whose reads and writes go to
// the servers in parallel, by RMA straight into or out of the kernel's
// request buffer where a fabric is open.
type handle struct {
	n *node
	f *clientlib.File
}

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileWriter   = (*handle)(nil)
	_ gofs.FileFlusher  = (*handle)(nil)
	_ gofs.FileFsyncer  = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAtContext(ctx, dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, h.n.fsys.errno("read", h.f.Name(), err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if _, err := h.f.WriteAtContext(ctx, data, off); err != nil {
		return 0, h.n.fsys.errno("write", h.f.Name(), err)
	}
	return uint32(len(data)), 0
}

// Flush (every close of a descriptor) has nothing to send: writes return
// only when every server holds their bytes.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.n.fsys.errno("fsync", h.f.Name(), h.f.Sync(ctx))
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.f.Close()
	return 0
}

// dirHandle is an open directory. Its first read fetches the whole
// listing with every entry's attributes (clientlib.ReadDirPlus: one
// metadata round trip per page, one round trip per server for the
// sizes), and the kernel's READDIRPLUS lookups are answered from it, so
// `ls -l` asks the servers once per directory, not once per entry.
type dirHandle struct {
	n    *node
	path string

	mu      sync.Mutex
	loaded  bool
	entries []fuse.DirEntry
	infos   map[string]*clientlib.FileInfo
	pos     int
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileLookuper     = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileFsyncdirer   = (*dirHandle)(nil)
)

func (d *dirHandle) load(ctx context.Context) syscall.Errno {
	// A data server that is down or hung fails the sizes, not the names:
	// entries without their size are listed without attributes (Lookup).
	list, err := d.n.fsys.c.ReadDirPlusPartial(ctx, d.path)
	if err != nil {
		return d.n.fsys.errno("readdir", d.path, err)
	}
	for _, fi := range list {
		if serr := fi.SizeErr(); serr != nil {
			d.n.fsys.errno("readdir (sizes)", d.path, serr) // logs it, once
			break
		}
	}
	d.fill(list)
	return 0
}

// fill sets the listing; entries whose size is unknown have no infos.
func (d *dirHandle) fill(list []*clientlib.FileInfo) {
	self := d.n.StableAttr().Ino
	parent := self
	if _, p := d.n.Parent(); p != nil {
		parent = p.StableAttr().Ino
	}
	d.entries = append(d.entries[:0],
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: self},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent})
	d.infos = make(map[string]*clientlib.FileInfo, len(list))
	for _, fi := range list {
		a := fi.Sys().(*proto.Attr)
		d.entries = append(d.entries, fuse.DirEntry{Name: fi.Name(), Mode: typeBits(a), Ino: inoOf(a)})
		if fi.SizeErr() == nil {
			d.infos[fi.Name()] = fi
		}
	}
	for i := range d.entries {
		d.entries[i].Off = uint64(i + 1)
	}
	d.loaded = true
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded {
		if e := d.load(ctx); e != 0 {
			return nil, e
		}
	}
	if d.pos >= len(d.entries) {
		return nil, 0
	}
	de := d.entries[d.pos]
	d.pos++
	return &de, 0
}

// Seekdir to 0 (rewinddir) lists afresh, as POSIX asks.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 {
		d.loaded = false
	}
	d.pos = int(off)
	return 0
}

// Lookup answers the kernel's READDIRPLUS lookups from the listing. An
// entry the listing has no attributes for (a server did not give its
// size) goes without them (an error here gives the kernel the name
// alone): a plain ls then asks nothing more, where a lookup of each
// such entry waited for the same server, one timeout per entry.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	d.mu.Lock()
	fi, loaded := d.infos[name], d.loaded
	d.mu.Unlock()
	if fi == nil {
		if loaded {
			return nil, syscall.EAGAIN
		}
		return d.n.Lookup(ctx, name, out)
	}
	return d.n.newChild(ctx, fi, out), 0
}

// Fsyncdir has nothing to do: the metadata server commits every
// namespace change before it answers.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno { return 0 }
