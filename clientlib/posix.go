package clientlib

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
)

// The calls in this file serve POSIX-style access (the FUSE mount): owners
// other than the client process, attribute changes, listings with
// attributes, and the file system's capacity.

// Owner is the user and group a new file or directory belongs to.
type Owner struct{ UID, GID uint32 }

// ProcessOwner is the calling process's user and group.
func ProcessOwner() Owner { return Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())} }

// modeBits is m's permission bits with setuid, setgid and sticky, as
// POSIX numbers them (07777).
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		b |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		b |= syscall.S_ISVTX
	}
	return b
}

// CreateAs is Create with the new file owned by owner.
func (c *Client) CreateAs(ctx context.Context, path string, o CreateOptions, owner Owner) (*File, error) {
	p, err := clean("create", path)
	if err != nil {
		return nil, err
	}
	if namesDir(path) { // as Linux's O_CREAT: files are made, not directories
		return nil, &Error{Op: "create", Path: path, Server: -1, Err: syscall.EISDIR}
	}
	if o.Mode == 0 && !o.ExactMode {
		o.Mode = 0o644
	}
	if o.Count < 0 || o.Count > len(c.servers) {
		return nil, &Error{Op: "create", Path: p, Server: -1,
			Err: fmt.Errorf("server count %d outside 0..%d: %w", o.Count, len(c.servers), syscall.EINVAL)}
	}
	if o.StripSize != 0 {
		l := layout.Layout{StripSize: o.StripSize, Count: 1, Total: 1}
		if err := l.Validate(); err != nil {
			return nil, &Error{Op: "create", Path: p, Server: -1, Err: fmt.Errorf("%v: %w", err, syscall.EINVAL)}
		}
	}
	var r proto.OpenResp
	req := &proto.CreateReq{Path: p, Mode: modeBits(o.Mode), UID: owner.UID, GID: owner.GID,
		Exclusive: o.Exclusive, StripSize: o.StripSize, Count: o.Count}
	if err := c.metaCall(ctx, proto.OpCreate, p, req, &r); err != nil {
		return nil, err
	}
	if err := c.checkLayout("create", &r.Attr); err != nil {
		return nil, err
	}
	return c.newFile(r.Attr, r.Cap), nil
}

// MkdirAs makes a directory owned by owner, with mode as given (0
// included), and returns its attributes.
func (c *Client) MkdirAs(ctx context.Context, path string, mode fs.FileMode, owner Owner) (*FileInfo, error) {
	p, err := clean("mkdir", path)
	if err != nil {
		return nil, err
	}
	var a proto.Attr
	req := &proto.CreateReq{Path: p, Mode: modeBits(mode), UID: owner.UID, GID: owner.GID}
	if err := c.metaCall(ctx, proto.OpMkdir, p, req, &a); err != nil {
		return nil, err
	}
	return &FileInfo{attr: a}, nil
}

// Unlink removes a file: its name, then its datafiles on every server. A
// directory gives EISDIR. Unlike Remove it trusts the metadata server to
// check the type, so it is one round trip shorter. As with Remove, once
// the name is gone the call succeeds; datafiles a server could not remove
// are left for fsck, with a warning.
func (c *Client) Unlink(ctx context.Context, path string) error {
	p, err := clean("unlink", path)
	if err != nil {
		return err
	}
	if err := c.dirOnly(ctx, "unlink", path); err != nil {
		return err
	}
	var gone proto.OpenResp
	if err := c.metaCall(ctx, proto.OpUnlink, p, &proto.PathReq{Path: p}, &gone); err != nil {
		return err
	}
	c.removeData(ctx, "unlink", &gone.Attr, gone.Cap)
	return nil
}

// Rmdir removes an empty directory; a file gives ENOTDIR.
func (c *Client) Rmdir(ctx context.Context, path string) error {
	p, err := clean("rmdir", path)
	if err != nil {
		return err
	}
	return c.metaCall(ctx, proto.OpRmdir, p, &proto.PathReq{Path: p}, &proto.Empty{})
}

// AttrChange names the attributes SetAttr changes; nil fields stay.
type AttrChange struct {
	Mode         *uint32 // permission bits with setuid, setgid, sticky (07777)
	UID, GID     *uint32
	Atime, Mtime *time.Time
}

// SetAttr changes a file's or directory's mode, owner or times as the
// metadata server keeps them, and returns the attributes after the change
// (a file's size and modification time from its datafiles).
//
// A file's modification time is the later of the stored one and its
// datafiles' (File.Stat), so a new mtime is set on the datafiles too.
func (c *Client) SetAttr(ctx context.Context, path string, ch AttrChange) (*FileInfo, error) {
	p, err := clean("setattr", path)
	if err != nil {
		return nil, err
	}
	if err := c.dirOnly(ctx, "setattr", path); err != nil {
		return nil, err
	}
	req := &proto.SetAttrReq{Path: p}
	if ch.Mode != nil {
		req.Mask |= proto.SetMode
		req.Mode = *ch.Mode & 0o7777
	}
	if ch.UID != nil {
		req.Mask |= proto.SetUID
		req.UID = *ch.UID
	}
	if ch.GID != nil {
		req.Mask |= proto.SetGID
		req.GID = *ch.GID
	}
	if ch.Atime != nil {
		req.Mask |= proto.SetAtime
		req.Atime = ch.Atime.UnixNano()
	}
	if ch.Mtime != nil {
		req.Mask |= proto.SetMtime
		req.Mtime = ch.Mtime.UnixNano()
	}
	var r proto.OpenResp
	if err := c.metaCall(ctx, proto.OpSetAttr, p, req, &r); err != nil {
		return nil, err
	}
	a := r.Attr
	if a.Type != proto.TypeFile {
		return &FileInfo{attr: a}, nil
	}
	if err := c.checkLayout("setattr", &a); err != nil {
		return nil, err
	}
	f := c.newFile(a, r.Cap)
	if ch.Mtime != nil {
		err := f.eachServer(ctx, proto.OpSetMtime, &proto.SetMtimeReq{Handle: a.Handle, Cap: r.Cap, Layout: a.Layout, Mtime: req.Mtime}, nil, nil)
		if err != nil {
			return nil, wrap("setattr", p, err)
		}
	}
	fi, err := f.stat(ctx, nil)
	return fi, wrap("setattr", p, err)
}

func (c *Client) checkLayout(op string, a *proto.Attr) error {
	if a.Type == proto.TypeFile && a.Layout.Total != len(c.servers) {
		return &Error{Op: op, Path: a.Path, Server: -1,
			Err: fmt.Errorf("file laid out over %d servers, mounted system has %d: %w", a.Layout.Total, len(c.servers), syscall.EIO)}
	}
	return nil
}

// sizesBatch bounds the files of one OpSizes request, well under the
// control body cap.
const sizesBatch = 4096

// ReadDirPlus lists a directory in name order with every entry's
// attributes, files with their sizes. It costs one metadata round trip per
// page of entries and then one round trip per server, all servers at once,
// for the sizes of every file in the directory, however many there are.
func (c *Client) ReadDirPlus(ctx context.Context, dir string) ([]*FileInfo, error) {
	out, err := c.ReadDirPlusPartial(ctx, dir)
	if err != nil {
		return nil, err
	}
	for _, fi := range out {
		if fi.sizeErr != nil {
			return nil, wrap("readdir", fi.attr.Path, fi.sizeErr)
		}
	}
	return out, nil
}

// ReadDirPlusPartial is ReadDirPlus that lists what it can when data
// servers do not answer: it fails only when the metadata server does.
// Files whose size a server could not give have SizeErr set (and a size
// and modification time from the servers that answered).
func (c *Client) ReadDirPlusPartial(ctx context.Context, dir string) ([]*FileInfo, error) {
	p, err := clean("readdir", dir)
	if err != nil {
		return nil, err
	}
	var out []*FileInfo
	after := ""
	for {
		var page proto.ReaddirPlusResp
		if err := c.metaCall(ctx, proto.OpDirPlus, p, &proto.ReaddirReq{Path: p, After: after, Max: proto.MaxList}, &page); err != nil {
			return nil, err
		}
		for i := range page.Entries {
			a := page.Entries[i]
			if path.Dir(a.Path) != p {
				return nil, &Error{Op: "readdir", Path: p, Server: c.meta.id, Addr: c.meta.addr,
					Err: fmt.Errorf("%w: entry %q is not in %s", proto.ErrMalformed, a.Path, p)}
			}
			if err := c.checkLayout("readdir", &a); err != nil {
				return nil, err
			}
			fi := &FileInfo{attr: a}
			if i < len(page.Caps) {
				fi.cap = page.Caps[i]
			}
			out = append(out, fi)
		}
		if !page.More || len(page.Entries) == 0 {
			break
		}
		after = path.Base(page.Entries[len(page.Entries)-1].Path)
	}
	c.fillSizes(ctx, out)
	return out, nil
}

// fillSizes asks every server, in parallel, for the datafile sizes of the
// files in infos that have strips there, and sets each file's size and
// data modification time; a file a server failed to answer for gets that
// error as its sizeErr.
func (c *Client) fillSizes(ctx context.Context, infos []*FileInfo) {
	type want struct {
		req   proto.SizesReq
		infos []*FileInfo
	}
	per := make(map[int][]*want)
	for _, fi := range infos {
		if fi.attr.Type != proto.TypeFile {
			continue
		}
		l := fi.attr.Layout
		for j := 0; j < l.Count; j++ {
			s := l.Server(j)
			ws := per[s]
			if len(ws) == 0 || len(ws[len(ws)-1].infos) == sizesBatch {
				ws = append(ws, &want{})
				per[s] = ws
			}
			w := ws[len(ws)-1]
			w.req.Files = append(w.req.Files, proto.DataReq{Handle: fi.attr.Handle, Cap: fi.cap, Layout: l})
			w.infos = append(w.infos, fi)
		}
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for s, ws := range per {
		wg.Add(1)
		go func() { // one goroutine per server: its batches go in order
			defer wg.Done()
			sc := c.servers[s]
			for b, w := range ws {
				var resp proto.SizesResp
				err := sc.control(ctx, proto.OpSizes, &w.req, &resp)
				if err == nil && len(resp.Sizes) != len(w.infos) {
					err = sc.errorf("sizes", fmt.Errorf("%w: %d sizes for %d files", proto.ErrMalformed, len(resp.Sizes), len(w.infos)))
				}
				mu.Lock()
				if err != nil {
					for _, w := range ws[b:] {
						for _, fi := range w.infos {
							if fi.sizeErr == nil {
								fi.sizeErr = err
							}
						}
					}
					mu.Unlock()
					return
				}
				for i, fi := range w.infos {
					fi.size = max(fi.size, resp.Sizes[i].LogicalEnd)
					fi.mtime = max(fi.mtime, resp.Sizes[i].Mtime)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// FsStats is the capacity of a file system: its servers' storage summed.
type FsStats struct {
	Bytes, Free, Avail uint64 // bytes: total, free, free to unprivileged users
	// Files and FilesFree are the inodes of the server with the fewest
	// free: every new file takes one datafile on each server it spans.
	Files, FilesFree uint64
	Servers          int
}

// Statfs asks every server, in parallel, for its storage's capacity and
// free space, and sums them.
func (c *Client) Statfs(ctx context.Context) (*FsStats, error) {
	st := &FsStats{Servers: len(c.servers), Files: ^uint64(0), FilesFree: ^uint64(0)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, sc := range c.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r proto.StatfsResp
			err := sc.control(ctx, proto.OpStatfs, &proto.Empty{}, &r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			st.Bytes += r.Bytes
			st.Free += r.Free
			st.Avail += r.Avail
			if r.FilesFree < st.FilesFree {
				st.Files, st.FilesFree = r.Files, r.FilesFree
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, wrap("statfs", "", firstErr)
	}
	return st, nil
}

// Info returns the attributes the file had when it was opened or created
// (its size as of then is not known: Stat asks the servers).
func (f *File) Info() *FileInfo {
	f.capab.mu.Lock()
	defer f.capab.mu.Unlock()
	return &FileInfo{attr: f.attr, cap: f.capab.cap}
}
