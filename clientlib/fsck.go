package clientlib

import (
	"context"
	"fmt"
	"syscall"

	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
)

// The calls a file system check is made of (package fsck): what each
// server holds, what the namespace names, and removing one datafile.

// Datafile is one datafile a server holds: a file's strips on that server.
type Datafile = proto.Datafile

// Datafiles lists every datafile server id holds, in handle order.
func (c *Client) Datafiles(ctx context.Context, id int) ([]Datafile, error) {
	if id < 0 || id >= len(c.servers) {
		return nil, &Error{Op: "datalist", Server: -1, Err: fmt.Errorf("no server %d: %w", id, syscall.EINVAL)}
	}
	var out []Datafile
	after := ""
	for {
		var page proto.DataListResp
		if err := c.servers[id].control(ctx, proto.OpDataList, &proto.DataListReq{After: after, Max: proto.MaxDataListPage}, &page); err != nil {
			return nil, wrap("datalist", "", err)
		}
		if len(page.Files) > 0 && page.Files[0].Handle <= after {
			return nil, c.servers[id].errorf("datalist", fmt.Errorf("%w: page starts at %s, not after %s", proto.ErrMalformed, page.Files[0].Handle, after))
		}
		out = append(out, page.Files...)
		if !page.More || len(page.Files) == 0 {
			return out, nil
		}
		after = page.Files[len(page.Files)-1].Handle
	}
}

// AllFiles calls each with every file of the namespace, a page at a time,
// in no particular order. Pages are separate snapshots: a file renamed
// meanwhile may be seen twice or missed (HandlesKnown is exact).
func (c *Client) AllFiles(ctx context.Context, each func(*FileInfo) error) error {
	after := ""
	for {
		var page proto.FileListResp
		if err := c.metaCall(ctx, proto.OpFileList, "/", &proto.FileListReq{After: after, Max: proto.MaxList}, &page); err != nil {
			return err
		}
		for i := range page.Files {
			if err := c.checkLayout("filelist", &page.Files[i]); err != nil {
				return err
			}
			if err := each(&FileInfo{attr: page.Files[i]}); err != nil {
				return err
			}
		}
		if !page.More {
			return nil
		}
		after = page.Last
	}
}

// HandlesKnown reports which of handles a file of the namespace has, as
// the metadata server saw it at one instant (per batch of
// proto.MaxHandlesKnown). A handle unknown then stays unknown: handles
// are made only by create.
func (c *Client) HandlesKnown(ctx context.Context, handles []string) (map[string]bool, error) {
	out := make(map[string]bool, len(handles))
	for len(handles) > 0 {
		n := min(len(handles), proto.MaxHandlesKnown)
		var r proto.HandlesKnownResp
		if err := c.metaCall(ctx, proto.OpKnown, "", &proto.HandlesKnownReq{Handles: handles[:n]}, &r); err != nil {
			return nil, err
		}
		if len(r.Known) != n {
			return nil, c.meta.errorf("handlesknown", fmt.Errorf("%w: %d answers for %d handles", proto.ErrMalformed, len(r.Known), n))
		}
		for i, h := range handles[:n] {
			out[h] = r.Known[i]
		}
		handles = handles[n:]
	}
	return out, nil
}

// RemoveDatafile deletes the datafile of handle on server id alone: an
// orphan, whose layout nobody knows any more, or a datafile on a server
// its file's layout does not span. The request names it by a one-server
// layout on that server, which is all a remove needs.
func (c *Client) RemoveDatafile(ctx context.Context, id int, handle string) error {
	if id < 0 || id >= len(c.servers) {
		return &Error{Op: "remove", Server: -1, Err: fmt.Errorf("no server %d: %w", id, syscall.EINVAL)}
	}
	strip, _ := c.Defaults()
	l := layout.Layout{StripSize: max(strip, layout.MinStripSize), Count: 1, First: id, Total: len(c.servers)}
	return wrap("remove", handle, c.servers[id].control(ctx, proto.OpRemove, &proto.DataReq{Handle: handle, Layout: l}, &proto.Empty{}))
}

// DatafileSize returns the size of file fi's datafile on server id, and
// whether it exists (a missing datafile reads as empty).
func (c *Client) DatafileSize(ctx context.Context, fi *FileInfo, id int) (int64, bool, error) {
	if id < 0 || id >= len(c.servers) {
		return 0, false, &Error{Op: "size", Server: -1, Err: fmt.Errorf("no server %d: %w", id, syscall.EINVAL)}
	}
	var r proto.DataListResp
	// The datafile with this handle is the first after the handle just
	// below it; listing one entry from there answers without a new op.
	if err := c.servers[id].control(ctx, proto.OpDataList, &proto.DataListReq{After: handleBefore(fi.attr.Handle), Max: 1}, &r); err != nil {
		return 0, false, wrap("size", fi.attr.Path, err)
	}
	if len(r.Files) == 1 && r.Files[0].Handle == fi.attr.Handle {
		return r.Files[0].Size, true, nil
	}
	return 0, false, nil
}

// handleBefore is the handle just below h in string order ("" for the
// lowest), so a listing after it starts at h.
func handleBefore(h string) string {
	b := []byte(h)
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case '-':
			continue
		case '0':
			b[i] = 'f' // borrow
			continue
		case 'a':
			b[i] = '9'
		default:
			b[i]--
		}
		return string(b)
	}
	return ""
}
