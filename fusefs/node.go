package fusefs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/proto"
)

// filesys is what every node of one mount shares.
type filesys struct {
	c   *clientlib.Client
	o   Options
	log *slog.Logger
}

// node is a file or directory, known by its path: Ferry's namespace is
// path-based, and go-fuse keeps the tree of names the kernel knows.
type node struct {
	gofs.Inode
	fsys *filesys

	mu   sync.Mutex
	seen attrStamp // size and mtime last reported to the kernel
}

// attrStamp is what tells whether a file changed behind the kernel's back.
type attrStamp struct {
	size, mtime int64
}

var (
	_ gofs.NodeLookuper       = (*node)(nil)
	_ gofs.NodeGetattrer      = (*node)(nil)
	_ gofs.NodeSetattrer      = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeMkdirer        = (*node)(nil)
	_ gofs.NodeRmdirer        = (*node)(nil)
	_ gofs.NodeCreater        = (*node)(nil)
	_ gofs.NodeUnlinker       = (*node)(nil)
	_ gofs.NodeRenamer        = (*node)(nil)
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeStatfser       = (*node)(nil)
	_ gofs.NodeLinker         = (*node)(nil)
	_ gofs.NodeSymlinker      = (*node)(nil)
	_ gofs.NodeMknoder        = (*node)(nil)
)

// path is the node's path in Ferry's namespace; ok is false for a node
// that has lost its name (unlinked while in use).
func (n *node) path() (string, bool) {
	var parts []string
	in := n.EmbeddedInode()
	for !in.IsRoot() {
		name, parent := in.Parent()
		if parent == nil {
			return "", false
		}
		parts = append(parts, name)
		in = parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/"), true
}

func (n *node) childPath(name string) (string, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return "", syscall.ENOENT
	}
	if p == "/" {
		return "/" + name, 0
	}
	return p + "/" + name, 0
}

// errno turns a client error into what the caller of the system call
// sees. Transport failures (a server that died or went away) are EIO: the
// call's data did not make it, whatever the socket said. The error, which
// names the server, is logged unless it is an ordinary answer.
func (f *filesys) errno(op, path string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	e := clientlib.Errno(err)
	switch e {
	case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ENOTCONN,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.ENETDOWN, syscall.ESHUTDOWN,
		syscall.EBADMSG, syscall.EREMOTE, syscall.E2BIG:
		e = syscall.EIO
	}
	if errors.Is(err, context.Canceled) {
		e = syscall.EINTR
	}
	switch e {
	case syscall.ENOENT, syscall.EEXIST, syscall.ENOTEMPTY, syscall.EISDIR, syscall.ENOTDIR, syscall.EINTR, syscall.ESTALE:
	default:
		f.log.Warn("ferry call failed", "op", op, "path", path, "errno", e.Error(), "err", err)
	}
	return e
}

// ino numbers: a file's comes from its handle, so it stays while the file
// is renamed; a directory's from its path (directories have no handle).
// Both stay below 2^63, where go-fuse's own numbers start.
// FileIno is the inode number the mount gives the file with this
// handle: ferry cp compares it with a local path's to know a file on a
// mount for the Ferry file it copies to or from.
func FileIno(handle string) uint64 { return inoOf(&proto.Attr{Type: proto.TypeFile, Handle: handle}) }

func inoOf(a *proto.Attr) uint64 {
	h := fnv.New64a()
	if a.Type == proto.TypeFile {
		h.Write([]byte("f" + a.Handle))
	} else {
		if a.Path == "/" {
			return 1
		}
		h.Write([]byte("d" + a.Path))
	}
	return max(h.Sum64()&(1<<63-1), 2)
}

func typeBits(a *proto.Attr) uint32 {
	if a.Type == proto.TypeDir {
		return syscall.S_IFDIR
	}
	return syscall.S_IFREG
}

// blockSize is st_blksize, the I/O size programs (cp, cat, stdio) pick
// their buffers by: the largest request the kernel sends.
const blockSize = fuse.MAX_KERNEL_WRITE

func fillAttr(out *fuse.Attr, fi *clientlib.FileInfo) {
	a := fi.Sys().(*proto.Attr)
	out.Ino = inoOf(a)
	out.Mode = typeBits(a) | a.Mode&0o7777
	out.Nlink = 1 // directories too: find must not count on subdirectory links
	out.Owner = fuse.Owner{Uid: a.UID, Gid: a.GID}
	if a.Type == proto.TypeFile {
		out.Size = uint64(fi.Size())
		out.Blocks = (out.Size + 511) / 512
	}
	out.Blksize = blockSize
	atime, mtime, ctime := fi.Atime(), fi.ModTime(), fi.Ctime() // ctime: never before mtime
	out.SetTimes(&atime, &mtime, &ctime)
}

// report fills out from fi and remembers what the kernel was told.
func (n *node) report(out *fuse.Attr, fi *clientlib.FileInfo) {
	fillAttr(out, fi)
	n.mu.Lock()
	n.seen = attrStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	n.mu.Unlock()
}

// newChild makes (or finds) the inode for a child the servers described.
func (n *node) newChild(ctx context.Context, fi *clientlib.FileInfo, out *fuse.EntryOut) *gofs.Inode {
	a := fi.Sys().(*proto.Attr)
	ch := &node{fsys: n.fsys}
	in := n.NewInode(ctx, ch, gofs.StableAttr{Mode: typeBits(a), Ino: inoOf(a)})
	// NewInode returns the existing inode when the kernel already knows
	// this one: record the attributes on whichever node it is.
	in.Operations().(*node).report(&out.Attr, fi)
	return in
}

// stat fetches the node's attributes: by path, or by the open file when
// the name is gone (fstat of an unlinked file) or names another file now
// (renamed or replaced by another client: fstat must not report, and an
// O_APPEND write must not go by, that file's size). Without an open file,
// a name that holds another file is ESTALE, which makes the kernel look it
// up again.
func (n *node) stat(ctx context.Context, fh gofs.FileHandle) (*clientlib.FileInfo, string, error) {
	p, ok := n.path()
	moved := false
	if ok {
		fi, err := n.fsys.c.Stat(ctx, p)
		switch {
		case err == nil && n.holds(fi):
			return fi, p, nil
		case err == nil:
			moved = true
		case !errors.Is(err, fs.ErrNotExist):
			return fi, p, err
		}
	}
	if h, isFile := fh.(*handle); isFile {
		fi, err := h.f.Stat(ctx)
		return fi, h.f.Name(), err
	}
	if moved {
		return nil, p, fmt.Errorf("%s names another file now: %w", p, syscall.ESTALE)
	}
	return nil, p, syscall.ENOENT
}

// holds says whether fi, found at the node's path, is the node's own file.
// A file's inode number comes from its handle (inoOf); a directory's from
// its path, so a directory found there always is.
func (n *node) holds(fi *clientlib.FileInfo) bool {
	st := n.StableAttr()
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return true
	}
	a, ok := fi.Sys().(*proto.Attr)
	return ok && a.Type == proto.TypeFile && n.ownFile(a.Handle)
}

// ownFile says whether the file of handle is the node's (a file node).
func (n *node) ownFile(handle string) bool {
	return inoOf(&proto.Attr{Type: proto.TypeFile, Handle: handle}) == n.StableAttr().Ino
}

// ownPath is the node's path, checked to still name the node's file:
// ESTALE when another file holds it now (changes by path must not reach
// that file), ENOENT when the node has lost its name.
func (n *node) ownPath(ctx context.Context) (string, error) {
	p, ok := n.path()
	if !ok {
		return "", syscall.ENOENT
	}
	if n.StableAttr().Mode&syscall.S_IFMT != syscall.S_IFREG {
		return p, nil // a directory is known by its path
	}
	fi, err := n.fsys.c.Stat(ctx, p)
	if err != nil {
		return p, err
	}
	if !n.holds(fi) {
		return p, fmt.Errorf("%s names another file now: %w", p, syscall.ESTALE)
	}
	return p, nil
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	fi, err := n.fsys.c.Stat(ctx, p)
	if err != nil {
		return nil, n.fsys.errno("lookup", p, err)
	}
	return n.newChild(ctx, fi, out), 0
}

func (n *node) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fi, p, err := n.stat(ctx, fh)
	if err != nil {
		return n.fsys.errno("getattr", p, err)
	}
	n.report(&out.Attr, fi)
	return 0
}

func (n *node) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	p, ok := n.path()
	if size, set := in.GetSize(); set {
		var err error
		if h, isFile := fh.(*handle); isFile {
			err = h.f.Truncate(ctx, int64(size))
		} else if !ok {
			return syscall.ENOENT
		} else {
			var f *clientlib.File
			if f, err = n.fsys.c.Open(ctx, p); err == nil {
				if n.ownFile(f.Handle()) {
					err = f.Truncate(ctx, int64(size))
				} else { // never truncate the file another client put there
					err = fmt.Errorf("%s names another file now: %w", p, syscall.ESTALE)
				}
				f.Close()
			}
		}
		if err != nil {
			return n.fsys.errno("truncate", p, err)
		}
	}
	var ch clientlib.AttrChange
	var change bool
	if m, set := in.GetMode(); set {
		ch.Mode, change = &m, true
	}
	if uid, set := in.GetUID(); set {
		ch.UID, change = &uid, true
	}
	if gid, set := in.GetGID(); set {
		ch.GID, change = &gid, true
	}
	if t, set := in.GetATime(); set {
		ch.Atime, change = &t, true
	}
	if t, set := in.GetMTime(); set {
		ch.Mtime, change = &t, true
	}
	var (
		fi  *clientlib.FileInfo
		err error
	)
	if change {
		// Changes go by path: only to the node's own file. One that
		// another client renamed away is ESTALE (the protocol has no
		// change by handle), never a change to the file now there.
		if p, err = n.ownPath(ctx); err != nil {
			return n.fsys.errno("setattr", p, err)
		}
		fi, err = n.fsys.c.SetAttr(ctx, p, ch)
	} else {
		fi, p, err = n.stat(ctx, fh)
	}
	if err != nil {
		return n.fsys.errno("setattr", p, err)
	}
	n.report(&out.Attr, fi)
	return 0
}

func caller(ctx context.Context) clientlib.Owner {
	if c, ok := fuse.FromContext(ctx); ok {
		return clientlib.Owner{UID: c.Uid, GID: c.Gid}
	}
	return clientlib.Owner{UID: uint32(syscall.Getuid()), GID: uint32(syscall.Getgid())}
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	bits := mode & 0o7777
	fi, err := n.fsys.c.MkdirAs(ctx, p, fileMode(bits), caller(ctx))
	if err != nil {
		return nil, n.fsys.errno("mkdir", p, err)
	}
	return n.newChild(ctx, fi, out), 0
}

// fileMode converts POSIX permission bits (07777) to an fs.FileMode.
// clientlib reads a zero mode as its default, so callers that mean 0 set
// it after creating.
func fileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&syscall.S_ISUID != 0 {
		fm |= fs.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		fm |= fs.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	p, e := n.childPath(name)
	if e != 0 {
		return e
	}
	return n.fsys.errno("rmdir", p, n.fsys.c.Rmdir(ctx, p))
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	p, e := n.childPath(name)
	if e != 0 {
		return e
	}
	return n.fsys.errno("unlink", p, n.fsys.c.Unlink(ctx, p))
}

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags != 0 {
		// RENAME_NOREPLACE and RENAME_EXCHANGE need an atomic check the
		// metadata server does not offer; EINVAL makes mv and friends
		// fall back to a plain rename.
		return syscall.EINVAL
	}
	from, e := n.childPath(name)
	if e != 0 {
		return e
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	to, e := np.childPath(newName)
	if e != 0 {
		return e
	}
	return n.fsys.errno("rename", from, n.fsys.c.Rename(ctx, from, to))
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, nil, 0, e
	}
	bits := mode & 0o7777
	// Exclusive first, whatever the flags: then this call knows whether
	// it made the file, which a failure below must take back (a failed
	// open(O_CREAT) leaves nothing, and a retry, or make, must not find
	// an empty file).
	o := clientlib.CreateOptions{Mode: fileMode(bits), ExactMode: true, Exclusive: true}
	f, err := n.fsys.c.CreateAs(ctx, p, o, caller(ctx))
	made := err == nil
	if errors.Is(err, fs.ErrExist) && flags&syscall.O_EXCL == 0 {
		// Another client made it since the kernel looked: open it, as
		// open(2) without O_EXCL does, O_TRUNC included.
		o.Exclusive = false
		if f, err = n.fsys.c.CreateAs(ctx, p, o, caller(ctx)); err == nil && flags&syscall.O_TRUNC != 0 {
			if err = f.Truncate(ctx, 0); err != nil {
				f.Close()
			}
		}
	}
	if err != nil {
		return nil, nil, 0, n.fsys.errno("create", p, err)
	}
	fi, err := f.Stat(ctx)
	if err != nil {
		f.Close()
		if made {
			// Not with ctx: an interrupted create (Ctrl-C) must still
			// take its file back. The client's timeout bounds it.
			if rerr := n.fsys.c.Remove(context.WithoutCancel(ctx), p); rerr != nil {
				n.fsys.log.Warn("removing a file whose create failed", "path", p, "err", rerr)
			}
		}
		return nil, nil, 0, n.fsys.errno("create", p, err)
	}
	in := n.newChild(ctx, fi, out)
	return in, &handle{n: in.Operations().(*node), f: f}, 0, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	f, err := n.fsys.c.Open(ctx, p)
	if err != nil {
		return nil, 0, n.fsys.errno("open", p, err)
	}
	if !n.ownFile(f.Handle()) {
		// Another client put another file at this name since the
		// kernel looked it up: ESTALE makes the kernel look it up
		// again and open that file under its own inode.
		f.Close()
		return nil, 0, syscall.ESTALE
	}
	// Close-to-open: the servers' size and mtime now, against what the
	// kernel was last told. The kernel drops the file's cached pages on
	// every open (no FOPEN_KEEP_CACHE); if the attributes changed, it
	// must drop those too, or it would read up to a stale size.
	fi, err := f.Stat(ctx)
	if err != nil {
		f.Close()
		return nil, 0, n.fsys.errno("open", p, err)
	}
	now := attrStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	n.mu.Lock()
	changed := n.seen != now
	n.seen = now
	n.mu.Unlock()
	if changed {
		// Attributes only (negative offset): takes no lock the open in
		// progress holds, so it is safe from inside this request.
		n.NotifyContent(-1, 0)
	}
	return &handle{n: n, f: f}, 0, 0
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	return &dirHandle{n: n, path: p}, 0, 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	st, err := n.fsys.c.Statfs(ctx)
	if err != nil {
		return n.fsys.errno("statfs", "/", err)
	}
	const bs = 4096
	out.Bsize, out.Frsize = bs, bs
	out.Blocks, out.Bfree, out.Bavail = st.Bytes/bs, st.Free/bs, st.Avail/bs
	out.Files, out.Ffree = st.Files, st.FilesFree
	out.NameLen = proto.MaxName
	return 0
}

// Link, Symlink and Mknod: the namespace holds files and directories
// only. EPERM is what link(2), symlink(2) and mknod(2) say for a file
// system that does not support them (go-fuse's default is ENOTSUP).
func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}
