package clientlib

import (
	"context"
	"fmt"
	"syscall"

	"github.com/ferry-hpc/ferry/proto"
)

// ServerStatfs returns the capacity and free space of server id's storage.
func (c *Client) ServerStatfs(ctx context.Context, id int) (*proto.StatfsResp, error) {
	if id < 0 || id >= len(c.servers) {
		return nil, &Error{Op: "statfs", Server: -1, Err: fmt.Errorf("no server %d: %w", id, syscall.EINVAL)}
	}
	var r proto.StatfsResp
	if err := c.servers[id].control(ctx, proto.OpStatfs, &proto.Empty{}, &r); err != nil {
		return nil, wrap("statfs", "", err)
	}
	return &r, nil
}

// ServerSizes returns the length of the file's datafile on each server
// that holds its strips, by server id.
func (f *File) ServerSizes(ctx context.Context) (map[int]int64, error) {
	if err := f.check("stat", 0); err != nil {
		return nil, err
	}
	cp, err := f.current(ctx)
	if err != nil {
		return nil, err
	}
	sizes := make(map[int]int64, f.attr.Layout.Count)
	err = f.eachServer(ctx, proto.OpSize, &proto.DataReq{Handle: f.attr.Handle, Cap: cp, Layout: f.attr.Layout}, nil, func(server int, body []byte) error {
		var r proto.SizeResp
		if err := proto.Unmarshal(body, &r); err != nil {
			return err
		}
		sizes[server] = r.LocalSize
		return nil
	})
	return sizes, wrap("stat", f.attr.Path, err)
}
