package itest

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/proto"
)

// session is a raw control connection that has said hello as uid (the
// clusters here run auth "none", which trusts the claim on loopback).
type session struct {
	t  *testing.T
	nc net.Conn
	id uint64
}

func dialAs(t *testing.T, addr string, uid uint32) *session {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	s := &session{t: t, nc: nc}
	if st, _ := s.call(proto.OpHello, &proto.HelloReq{Client: "capability test", UID: uid, GID: uid}, false); st != 0 {
		t.Fatalf("hello: %v", st)
	}
	return s
}

// call sends one request (a data frame with no bytes when data) and
// returns the reply's errno and body.
func (s *session) call(op proto.Op, m proto.Message, data bool) (syscall.Errno, []byte) {
	s.t.Helper()
	s.id++
	var frame []byte
	if data {
		frame = proto.AppendDataFrame(nil, proto.Header{Op: op, ID: s.id}, m, 0)
	} else {
		frame = proto.Frame(proto.Header{Op: op, ID: s.id}, m)
	}
	s.nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := s.nc.Write(frame); err != nil {
		s.t.Fatal(err)
	}
	h, err := proto.ReadHeader(s.nc)
	if err != nil {
		s.t.Fatal(err)
	}
	body := make([]byte, h.BodyLen)
	if _, err := io.ReadFull(s.nc, body); err != nil {
		s.t.Fatal(err)
	}
	return syscall.Errno(h.Status), body
}

// A handle alone grants nothing: data servers refuse a forged, an expired,
// another user's, an under-privileged and a removed file's capability with
// the errno each deserves, without asking the metadata server; a write on
// a removed file's capability does not bring its datafile back; shared
// counters exist only for live files whose capability the caller holds.
func TestCapabilities(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, Edit: func(c *config.Config) { c.Auth = config.AuthNone }})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	key, err := config.ReadKey(cl.Config.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, "/f", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("secret"), 0); err != nil {
		t.Fatal(err)
	}
	h, l, good := f.Handle(), f.Layout(), f.Capability()
	if good.Rights&(proto.RightRead|proto.RightWrite) != proto.RightRead|proto.RightWrite {
		t.Fatalf("creator's capability grants %#x", good.Rights)
	}
	uid := uint32(os.Getuid())
	s := dialAs(t, cl.Config.Servers[0].Address, uid)
	sign := func(c proto.Cap) proto.Cap { c.MAC = proto.CapMAC(key, h, &c); return c }
	read := func(cp proto.Cap) syscall.Errno {
		st, _ := s.call(proto.OpRead, &proto.IOReq{Handle: h, Cap: cp, Layout: l,
			Extents: []proto.Extent{{Local: 0, Len: 6}}}, false)
		return st
	}
	write := func(cp proto.Cap) syscall.Errno {
		st, _ := s.call(proto.OpWrite, &proto.IOReq{Handle: h, Cap: cp, Layout: l}, true)
		return st
	}
	size := func(cp proto.Cap) syscall.Errno {
		st, _ := s.call(proto.OpSize, &proto.DataReq{Handle: h, Cap: cp, Layout: l}, false)
		return st
	}
	future := time.Now().Add(time.Minute).UnixNano()

	if st := read(good); st != 0 {
		t.Fatalf("read with the issued capability: %v", st)
	}
	forged := good
	forged.MAC[0] ^= 1
	escalated := sign(proto.Cap{UID: uid, Rights: proto.RightRead, Expiry: future})
	escalated.Rights |= proto.RightWrite // the MAC covers the rights
	cases := []struct {
		name string
		cp   proto.Cap
	}{
		{"no capability (the handle alone)", proto.Cap{}},
		{"forged MAC", forged},
		{"rights added after signing", escalated},
		{"expired", sign(proto.Cap{UID: uid, Rights: proto.RightRead | proto.RightWrite, Expiry: time.Now().Add(-time.Second).UnixNano()})},
		{"another user's", sign(proto.Cap{UID: uid + 1, Rights: proto.RightRead | proto.RightWrite, Expiry: future})},
		{"signed with another key", func() proto.Cap {
			cp := proto.Cap{UID: uid, Rights: proto.RightRead | proto.RightWrite, Expiry: future}
			cp.MAC = proto.CapMAC([]byte("not the file system key, 32 byte"), h, &cp)
			return cp
		}()},
	}
	for _, tc := range cases {
		if st := read(tc.cp); st != syscall.EACCES {
			t.Errorf("read with %s: %v, want EACCES", tc.name, st)
		}
		if st := write(tc.cp); st != syscall.EACCES {
			t.Errorf("write with %s: %v, want EACCES", tc.name, st)
		}
		if st := size(tc.cp); st != syscall.EACCES {
			t.Errorf("size with %s: %v, want EACCES", tc.name, st)
		}
	}
	readOnly := sign(proto.Cap{UID: uid, Rights: proto.RightRead, Expiry: future})
	if st := write(readOnly); st != syscall.EACCES {
		t.Errorf("write with a read-only capability: %v, want EACCES", st)
	}
	if st, _ := s.call(proto.OpTruncate, &proto.TruncateReq{Handle: h, Cap: readOnly, Layout: l}, false); st != syscall.EACCES {
		t.Errorf("truncate with a read-only capability: %v, want EACCES", st)
	}
	if st, _ := s.call(proto.OpRemove, &proto.DataReq{Handle: h, Cap: good, Layout: l}, false); st != syscall.EACCES {
		t.Errorf("remove with an open's capability: %v, want EACCES (only unlink issues removal)", st)
	}

	// Shared counters: not for a made-up handle, not without a capability.
	ms := dialAs(t, cl.Config.Servers[c.MetaServer()].Address, uid)
	made := uuid.NewString()
	mc := proto.Cap{UID: uid, Rights: proto.RightWrite, Expiry: future}
	mc.MAC = proto.CapMAC(key, made, &mc)
	if st, _ := ms.call(proto.OpFetchAdd, &proto.FetchAddReq{Handle: made, Delta: 1}, false); st != syscall.EACCES {
		t.Errorf("fetch-add on a made-up handle without a capability: %v, want EACCES", st)
	}
	if st, _ := ms.call(proto.OpFetchAdd, &proto.FetchAddReq{Handle: made, Cap: mc, Delta: 1}, false); st != syscall.ESTALE {
		t.Errorf("fetch-add on a handle no file has: %v, want ESTALE", st)
	}
	if st, _ := ms.call(proto.OpFetchAdd, &proto.FetchAddReq{Handle: h, Delta: 1}, false); st != syscall.EACCES {
		t.Errorf("fetch-add on a live file without its capability: %v, want EACCES", st)
	}
	if _, err := f.FetchAdd(ctx, 1); err != nil {
		t.Errorf("fetch-add with the file's capability: %v", err)
	}

	// Renewal keeps the rights and moves the expiry.
	st, body := ms.call(proto.OpRenew, &proto.RenewReq{Handle: h, Cap: readOnly}, false)
	var renewed proto.Cap
	if st != 0 || proto.Unmarshal(body, &renewed) != nil || renewed.Rights != proto.RightRead || renewed.Expiry <= readOnly.Expiry {
		t.Errorf("renew: %v, %+v", st, renewed)
	}

	// Removed: every old capability is stale, and nothing recreates the datafile.
	if err := c.Remove(ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	datafile := filepath.Join(cl.Config.Servers[0].Storage, "data", h)
	if st := read(good); st != syscall.ESTALE {
		t.Errorf("read of a removed file: %v, want ESTALE", st)
	}
	if st, _ := s.call(proto.OpWrite, &proto.IOReq{Handle: h, Cap: good, Layout: l, Extents: []proto.Extent{{Local: 0, Len: 0}}}, true); st != syscall.ESTALE {
		t.Errorf("write to a removed file: %v, want ESTALE", st)
	}
	if st, _ := s.call(proto.OpTruncate, &proto.TruncateReq{Handle: h, Cap: good, Layout: l, Size: 1 << 20}, false); st != syscall.ESTALE {
		t.Errorf("truncate of a removed file: %v, want ESTALE", st)
	}
	if _, err := os.Stat(datafile); !os.IsNotExist(err) {
		t.Errorf("removed file's datafile exists again: %v", err)
	}
	if _, err := f.WriteAt([]byte("again"), 0); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("client write to a removed file: %v, want ESTALE", err)
	}
	if st, _ := ms.call(proto.OpFetchAdd, &proto.FetchAddReq{Handle: h, Cap: good, Delta: 1}, false); st != syscall.ESTALE {
		t.Errorf("fetch-add on a removed file: %v, want ESTALE", st)
	}
	if st, _ := ms.call(proto.OpRenew, &proto.RenewReq{Handle: h, Cap: good}, false); st != syscall.ESTALE {
		t.Errorf("renew for a removed file: %v, want ESTALE", st)
	}

	// The record of the removal outlives a restart.
	cl.Stop(0)
	cl.StartServer(0)
	s = dialAs(t, cl.Config.Servers[0].Address, uid)
	if st := read(good); st != syscall.ESTALE {
		t.Errorf("read of a removed file after a restart: %v, want ESTALE", st)
	}
}

// With root_squash, root on a client acts as nobody: its new files belong
// to nobody, and it cannot give them away.
func TestRootSquash(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("root squash is about clients running as root")
	}
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, Edit: func(c *config.Config) { c.RootSquash = true; c.Auth = config.AuthNone }})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	f, err := c.Create(ctx, "/squashed", clientlib.CreateOptions{Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if fi := f.Info(); fi.UID() != 65534 || fi.GID() != 65534 {
		t.Errorf("root's new file under root squash belongs to %d:%d, want nobody", fi.UID(), fi.GID())
	}
	if err := c.Chown(ctx, "/squashed", 0, 0); !errors.Is(err, syscall.EPERM) {
		t.Errorf("chown under root squash: %v, want EPERM", err)
	}
	if err := c.Mkdir(ctx, "/d", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := c.Chmod(ctx, "/d", 0o700); err != nil {
		t.Errorf("squashed root chmods its own directory: %v", err)
	}
}
