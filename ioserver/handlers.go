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
	proto.OpStats: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.Empty) (proto.Message, error) {
		return c.s.statsSnapshot(), nil
	}),
	proto.OpRead: on(read),
	proto.OpSize: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataReq) (proto.Message, error) {
		j, err := c.s.fileServer(r.Handle, r.Layout)
		if err != nil {
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
		return &proto.Empty{}, c.s.data.Truncate(r.Handle, r.Layout.LocalSize(j, r.Size))
	}),
	proto.OpFsync: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataReq) (proto.Message, error) {
		if _, err := c.s.fileServer(r.Handle, r.Layout); err != nil {
			return nil, err
		}
		return &proto.Empty{}, c.s.data.Fsync(r.Handle)
	}),
	proto.OpRemove: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataReq) (proto.Message, error) {
		if _, err := c.s.fileServer(r.Handle, r.Layout); err != nil {
			return nil, err
		}
		return &proto.Empty{}, c.s.data.Remove(r.Handle)
	}),
	proto.OpDataList: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.DataListReq) (proto.Message, error) {
		files, more, err := c.s.data.List(r.After, r.Max)
		return &proto.DataListResp{Files: files, More: more}, err
	}),
	proto.OpSizes: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.SizesReq) (proto.Message, error) {
		resp := &proto.SizesResp{Sizes: make([]proto.SizeResp, len(r.Files))}
		for i, f := range r.Files {
			j, err := c.s.fileServer(f.Handle, f.Layout)
			if err != nil {
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
		return &proto.Empty{}, c.s.data.SetMtime(r.Handle, r.Mtime)
	}),
	proto.OpStatfs: on(func(ctx context.Context, c *conn, h proto.Header, r *proto.Empty) (proto.Message, error) {
		return statfs(c.s.self.Storage)
	}),

	proto.OpLookup: onMeta(func(m *meta.Store, r *proto.PathReq) (proto.Message, error) { return m.Lookup(r.Path) }),
	proto.OpCreate: onMeta(func(m *meta.Store, r *proto.CreateReq) (proto.Message, error) { return m.Create(r) }),
	proto.OpMkdir:  onMeta(func(m *meta.Store, r *proto.CreateReq) (proto.Message, error) { return m.Mkdir(r) }),
	proto.OpRmdir: onMeta(func(m *meta.Store, r *proto.PathReq) (proto.Message, error) {
		return &proto.Empty{}, m.Rmdir(r.Path)
	}),
	proto.OpUnlink: onMeta(func(m *meta.Store, r *proto.PathReq) (proto.Message, error) { return m.Unlink(r.Path) }),
	proto.OpRename: onMeta(func(m *meta.Store, r *proto.RenameReq) (proto.Message, error) { return m.Rename(r.Old, r.New) }),
	proto.OpReaddir: onMeta(func(m *meta.Store, r *proto.ReaddirReq) (proto.Message, error) {
		return m.Readdir(r.Path, r.After, r.Max)
	}),
	proto.OpDirPlus: onMeta(func(m *meta.Store, r *proto.ReaddirReq) (proto.Message, error) {
		return m.ReaddirPlus(r.Path, r.After, r.Max)
	}),
	proto.OpFileList: onMeta(func(m *meta.Store, r *proto.FileListReq) (proto.Message, error) {
		return m.FileList(r.After, r.Max)
	}),
	proto.OpKnown: onMeta(func(m *meta.Store, r *proto.HandlesKnownReq) (proto.Message, error) {
		return m.HandlesKnown(r.Handles)
	}),
	proto.OpSetAttr: onMeta(func(m *meta.Store, r *proto.SetAttrReq) (proto.Message, error) { return m.SetAttr(r) }),
	proto.OpFetchAdd: onMeta(func(m *meta.Store, r *proto.FetchAddReq) (proto.Message, error) {
		old, err := m.FetchAdd(r.Handle, r.Delta, r.Set)
		return &proto.Int{V: old}, err
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
}](f func(m *meta.Store, r P) (proto.Message, error)) handler {
	return on(func(ctx context.Context, c *conn, h proto.Header, r P) (proto.Message, error) {
		if c.s.meta == nil {
			return nil, fmt.Errorf("%s: %w (metadata server is %d)", h.Op, errNotMeta, c.s.cfg.MetadataServer)
		}
		return f(c.s.meta, r)
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
		return c.replyRead(h, r, res)
	})
	if replied {
		return nil, errReplied // an error here is the connection's, which is closed
	}
	return nil, err
}
