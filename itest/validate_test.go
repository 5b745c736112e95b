package itest

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
)

// Every request that carries a layout has it checked against the file
// system, and every name must be UTF-8: each gets EINVAL, and the file
// it names is untouched.
func TestRequestsValidated(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	f, err := c.Create(ctx, "/kept", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 256<<10), 0); err != nil {
		t.Fatal(err)
	}
	frame := func(op proto.Op, m proto.Message) []byte {
		return proto.Frame(proto.Header{Op: op, ID: 1}, m)
	}
	huge := layout.Layout{StripSize: 64 << 10, Count: 4096, Total: 4096} // valid alone, not here
	h := f.Handle()
	for _, id := range []int{0, 1} {
		addr := cl.Config.Servers[id].Address
		cases := []struct {
			name  string
			frame []byte
		}{
			{"size", frame(proto.OpSize, &proto.DataReq{Handle: h, Layout: huge})},
			{"truncate", frame(proto.OpTruncate, &proto.TruncateReq{Handle: h, Layout: huge, Size: 0})},
			{"fsync", frame(proto.OpFsync, &proto.DataReq{Handle: h, Layout: huge})},
			{"remove", frame(proto.OpRemove, &proto.DataReq{Handle: h, Layout: huge})},
			{"sizes", frame(proto.OpSizes, &proto.SizesReq{Files: []proto.DataReq{{Handle: h, Layout: huge}}})},
			{"setmtime", frame(proto.OpSetMtime, &proto.SetMtimeReq{Handle: h, Layout: huge, Mtime: 1})},
		}
		for _, tc := range cases {
			hd, _, err := rawCall(t, addr, tc.frame)
			if err != nil || syscall.Errno(hd.Status) != syscall.EINVAL {
				t.Errorf("server %d: %s with a 4096-server layout: status %d (%v), err %v; want EINVAL", id, tc.name, hd.Status, syscall.Errno(hd.Status), err)
			}
		}
	}
	if n, err := f.Size(ctx); err != nil || n != 256<<10 {
		t.Fatalf("file after the refused requests: size %d, %v; want %d", n, err, 256<<10)
	}

	meta := cl.Config.Servers[c.MetaServer()].Address
	str := func(s string) []byte { return append(binary.LittleEndian.AppendUint32(nil, uint32(len(s))), s...) }
	create := append(str("/bad-\xff\xfe"), make([]byte, 4+4+4+1+8+4)...) // mode, uid, gid, excl, strip, count
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"create", append(proto.AppendHeader(nil, proto.Header{Op: proto.OpCreate, ID: 1, BodyLen: uint32(len(create))}), create...)},
		{"mkdir", frame(proto.OpMkdir, &proto.CreateReq{Path: "/d\xc3", Mode: 0o755})},
		{"rename", frame(proto.OpRename, &proto.RenameReq{Old: "/kept", New: "/k\x80"})},
		{"lookup", frame(proto.OpLookup, &proto.PathReq{Path: "/\xff"})},
	} {
		hd, _, err := rawCall(t, meta, tc.frame)
		if err != nil || syscall.Errno(hd.Status) != syscall.EINVAL {
			t.Errorf("%s of an invalid UTF-8 name: status %d (%v), err %v; want EINVAL", tc.name, hd.Status, syscall.Errno(hd.Status), err)
		}
	}
	ents, err := c.ReadDir(ctx, "/")
	if err != nil || len(ents) != 1 || ents[0].Name != "kept" {
		t.Fatalf("namespace after the refused requests: %v, %v; want only kept", ents, err)
	}
}
