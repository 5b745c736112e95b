package ioserver

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/ioserver/data"
	"github.com/ferry-hpc/ferry/ioserver/meta"
	"github.com/ferry-hpc/ferry/proto"
)

// A handler serves one control request. It returns the reply's message,
// or an error to reply with, or errReplied when it wrote the reply itself.
type handler func(ctx context.Context, c *conn, h proto.Header, body []byte) (proto.Message, error)

// errReplied says a handler sent its reply (or found the connection gone).
var errReplied = errors.New("replied")

// handlers serve control requests by opcode. OpWrite is not here: its
// bytes follow on the stream, so the read loop runs it (handleWrite).
var handlers = map[proto.Op]handler{
	proto.OpHello: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.HelloReq) (proto.Message, error) {
		if err := c.authenticate(ctx, r); err != nil {
			c.s.stats.Add("auth.refused", 1)
			c.s.log.Warn("hello refused", "peer", c.nc.RemoteAddr().String(), "client", r.Client, "err", err)
			return nil, err
		}
		resp := c.s.hello()
		resp.Refused = c.connectFabrics(r)
		return resp, nil
	}),
	proto.OpChallenge: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.Empty) (proto.Message, error) {
		return c.challenge()
	}),
	proto.OpReplySocket: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.Empty) (proto.Message, error) {
		return nil, c.replySocket(h)
	}),
	proto.OpLocalFile: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataReq) (proto.Message, error) {
		if err := c.passDatafile(h, r); err != nil {
			return nil, err
		}
		return &proto.Empty{}, nil
	}),
	proto.OpStats: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.Empty) (proto.Message, error) {
		return c.s.statsSnapshot(), nil
	}),
	proto.OpRead: on(read),
	proto.OpSize: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataReq) (proto.Message, error) {
		j, err := c.s.fileServer(r.Handle, r.Layout)
		if err != nil {
			return nil, err
		}
		if err := c.s.check(c.caller(), r.Handle, &r.Cap, anyRight); err != nil {
			return nil, err
		}
		size, mtime, err := c.s.data.Size(r.Handle)
		if err != nil {
			return nil, err
		}
		return &proto.SizeResp{LocalSize: size, LogicalEnd: r.Layout.LogicalEnd(j, size), Mtime: mtime}, nil
	}),
	proto.OpTruncate: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.TruncateReq) (proto.Message, error) {
		j, err := c.s.fileServer(r.Handle, r.Layout)
		if err != nil {
			return nil, err
		}
		if err := c.s.check(c.caller(), r.Handle, &r.Cap, proto.RightWrite); err != nil {
			return nil, err
		}
		return &proto.Empty{}, c.s.data.Truncate(r.Handle, r.Layout.LocalSize(j, r.Size))
	}),
	proto.OpFsync: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataReq) (proto.Message, error) {
		if _, err := c.s.fileServer(r.Handle, r.Layout); err != nil {
			return nil, err
		}
		if err := c.s.check(c.caller(), r.Handle, &r.Cap, anyRight); err != nil {
			return nil, err
		}
		return &proto.Empty{}, c.s.data.Fsync(r.Handle)
	}),
	proto.OpRemove: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataReq) (proto.Message, error) {
		if _, err := c.s.fileServer(r.Handle, r.Layout); err != nil {
			return nil, err
		}
		// A second remove of the same file (a retry) finds the handle
		// already removed: that is done, not stale.
		err := c.s.check(c.caller(), r.Handle, &r.Cap, proto.RightRemove)
		if errors.Is(err, unix.ESTALE) {
			return &proto.Empty{}, nil
		}
		// Root may remove a datafile by sending no capability at all:
		// that is how fsck --repair removes orphans, whose names (and so
		// whose capabilities) are gone. A capability that is sent must
		// hold, root's too. The removal is recorded like any other.
		if err != nil && (r.Cap != (proto.Cap{}) || c.admin("remove without a capability") != nil) {
			return nil, err
		}
		return &proto.Empty{}, c.s.data.Remove(r.Handle)
	}),
	proto.OpDataList: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataListReq) (proto.Message, error) {
		if err := c.admin("datalist"); err != nil {
			return nil, err
		}
		files, more, err := c.s.data.List(r.After, r.Max)
		return &proto.DataListResp{Files: files, More: more}, err
	}),
	proto.OpSizes: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.SizesReq) (proto.Message, error) {
		resp := &proto.SizesResp{Sizes: make([]proto.SizeResp, len(r.Files))}
		who := c.caller()
		for i, f := range r.Files {
			j, err := c.s.fileServer(f.Handle, f.Layout)
			if err != nil {
				return nil, err
			}
			if err := c.s.check(who, f.Handle, &f.Cap, anyRight); err != nil {
				return nil, err
			}
			size, mtime, err := c.s.data.Size(f.Handle)
			if err != nil {
				return nil, err
			}
			resp.Sizes[i] = proto.SizeResp{LocalSize: size, LogicalEnd: f.Layout.LogicalEnd(j, size), Mtime: mtime}
		}
		return resp, nil
	}),
	proto.OpSetMtime: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.SetMtimeReq) (proto.Message, error) {
		if _, err := c.s.fileServer(r.Handle, r.Layout); err != nil {
			return nil, err
		}
		if err := c.s.check(c.caller(), r.Handle, &r.Cap, proto.RightOwner|proto.RightWrite); err != nil {
			return nil, err
		}
		return &proto.Empty{}, c.s.data.SetMtime(r.Handle, r.Mtime)
	}),
	proto.OpStatfs: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.Empty) (proto.Message, error) {
		return statfs(c.s.self.Storage)
	}),

	proto.OpLookup: onMeta(func(c *conn, m *meta.Store, r *proto.PathReq) (proto.Message, error) {
		who := c.caller()
		a, err := m.Lookup(who, r.Path)
		if err != nil {
			return nil, err
		}
		return c.s.open(who, a, meta.Rights(who, a)), nil
	}),
	proto.OpCreate: onMeta(func(c *conn, m *meta.Store, r *proto.CreateReq) (proto.Message, error) {
		who := c.caller()
		a, made, err := m.Create(who, r)
		if err != nil {
			return nil, err
		}
		rights := meta.Rights(who, a)
		if made {
			// The creator may read and write what it made, whatever the
			// mode says (open(O_CREAT|O_RDWR, 0444) succeeds).
			rights |= proto.RightRead | proto.RightWrite
		}
		return c.s.open(who, a, rights), nil
	}),
	proto.OpMkdir: onMeta(func(c *conn, m *meta.Store, r *proto.CreateReq) (proto.Message, error) {
		return m.Mkdir(c.caller(), r)
	}),
	proto.OpRmdir: onMeta(func(c *conn, m *meta.Store, r *proto.PathReq) (proto.Message, error) {
		return &proto.Empty{}, m.Rmdir(c.caller(), r.Path)
	}),
	proto.OpUnlink: onMeta(func(c *conn, m *meta.Store, r *proto.PathReq) (proto.Message, error) {
		who := c.caller()
		a, err := m.Unlink(who, r.Path)
		if err != nil {
			return nil, err
		}
		return c.s.open(who, a, proto.RightRemove), nil
	}),
	proto.OpRename: onMeta(func(c *conn, m *meta.Store, r *proto.RenameReq) (proto.Message, error) {
		who := c.caller()
		resp, err := m.Rename(who, r.Old, r.New)
		if err == nil && resp.Replaced {
			resp.Cap = c.s.issue(who, resp.Attr.Handle, proto.RightRemove)
		}
		return resp, err
	}),
	proto.OpReaddir: onMeta(func(c *conn, m *meta.Store, r *proto.ReaddirReq) (proto.Message, error) {
		return m.Readdir(c.caller(), r.Path, r.After, r.Max)
	}),
	proto.OpDirPlus: onMeta(func(c *conn, m *meta.Store, r *proto.ReaddirReq) (proto.Message, error) {
		who := c.caller()
		resp, err := m.ReaddirPlus(who, r.Path, r.After, r.Max)
		if err != nil {
			return nil, err
		}
		resp.Caps = make([]proto.Cap, len(resp.Entries))
		for i := range resp.Entries {
			if a := &resp.Entries[i]; a.Type == proto.TypeFile {
				resp.Caps[i] = c.s.issue(who, a.Handle, meta.Rights(who, a))
			}
		}
		return resp, nil
	}),
	proto.OpFileList: onMeta(func(c *conn, m *meta.Store, r *proto.FileListReq) (proto.Message, error) {
		if err := c.admin("filelist"); err != nil {
			return nil, err
		}
		return m.FileList(r.After, r.Max)
	}),
	proto.OpKnown: onMeta(func(c *conn, m *meta.Store, r *proto.HandlesKnownReq) (proto.Message, error) {
		if err := c.admin("known"); err != nil {
			return nil, err
		}
		return m.HandlesKnown(r.Handles)
	}),
	proto.OpSetAttr: onMeta(func(c *conn, m *meta.Store, r *proto.SetAttrReq) (proto.Message, error) {
		// The reply carries a capability, so that a new mtime can be set
		// on the datafiles too.
		who := c.caller()
		a, err := m.SetAttr(who, r)
		if err != nil {
			return nil, err
		}
		return c.s.open(who, a, meta.Rights(who, a)), nil
	}),
	proto.OpFetchAdd: onMeta(func(c *conn, m *meta.Store, r *proto.FetchAddReq) (proto.Message, error) {
		if err := c.s.check(c.caller(), r.Handle, &r.Cap, proto.RightRead|proto.RightWrite); err != nil {
			return nil, err
		}
		old, err := m.FetchAdd(r.Handle, r.Counter, r.Delta, r.Set, r.Make, r.Drop)
		return &proto.Int{V: old}, err
	}),
	proto.OpRenew: onMeta(func(c *conn, m *meta.Store, r *proto.RenewReq) (proto.Message, error) {
		// Renewal keeps the rights the file was opened with, as an open
		// file descriptor keeps them across a chmod; a removed file's
		// capability is not renewed.
		who := c.caller()
		if err := c.s.check(who, r.Handle, &r.Cap, anyRight); err != nil {
			return nil, err
		}
		if !m.Live(r.Handle) {
			return nil, fmt.Errorf("renew capability for %s: the file was removed: %w", r.Handle, unix.ESTALE)
		}
		rights := r.Cap.Rights &^ proto.RightRemove
		cp := c.s.issue(who, r.Handle, rights)
		return &cp, nil
	}),
}

// on makes a handler that decodes the request body into a *T first.
func on[T any, P interface {
	*T
	proto.Message
}](f func(ctx context.Context, c *conn, h proto.Header, r P) (proto.Message, error)) handler {
	return func(ctx context.Context, c *conn, h proto.Header, body []byte) (proto.Message, error) {
		r := P(new(T))
		if err := proto.Unmarshal(body, r); err != nil {
			return nil, err
		}
		return f(ctx, c, h, r)
	}
}

// onMeta makes a handler for a metadata request, which only the metadata
// server answers.
func onMeta[T any, P interface {
	*T
	proto.Message
}](f func(c *conn, m *meta.Store, r P) (proto.Message, error)) handler {
	return on(func(ctx context.Context, c *conn, h proto.Header, r P) (proto.Message, error) {
		if c.s.meta == nil {
			return nil, fmt.Errorf("%s: %w (metadata server is %d)", h.Op, errNotMeta, c.s.cfg.MetadataServer)
		}
		return f(c, c.s.meta, r)
	})
}

// statfs reports the file system that holds a server's storage directory.
func statfs(dir string) (*proto.StatfsResp, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	if st.Frsize > 0 {
		bs = uint64(st.Frsize)
	}
	return &proto.StatfsResp{Bytes: st.Blocks * bs, Free: min(st.Bfree, st.Blocks) * bs, Avail: min(st.Bavail, st.Blocks) * bs,
		Files: st.Files, FilesFree: min(st.Ffree, st.Files)}, nil
}

// read serves a read by the data service; inline replies stream from the
// datafile, so the reply is sent from inside the service's call.
func read(ctx context.Context, c *conn, h proto.Header, r *proto.IOReq) (proto.Message, error) {
	if _, err := c.s.fileServer(r.Handle, r.Layout); err != nil {
		return nil, err
	}
	if err := c.s.check(c.caller(), r.Handle, &r.Cap, proto.RightRead); err != nil {
		return nil, err
	}
	var link data.Link
	if r.Transport == proto.RDMA {
		var err error
		if link, err = c.link(r.Provider); err != nil {
			return nil, err
		}
	}
	replied := false
	err := c.s.data.Read(ctx, r, link, func(res data.Result) error {
		replied = true
		c.s.countTransport("read", r, res.Bytes)
		return c.replyRead(h, r, res)
	})
	if replied {
		return nil, errReplied // an error here is the connection's, which is closed
	}
	return nil, err
}
