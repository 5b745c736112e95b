package meta

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/proto"
)

// POSIX permission rules, user by user, on one namespace that root sets up.
func TestPermissions(t *testing.T) {
	m := open(t)
	alice := Caller{UID: 1000, GID: 1000, Groups: []uint32{50}}
	bob := Caller{UID: 1001, GID: 1001}
	mk := func(c Caller, p string, mode uint32) {
		t.Helper()
		if _, err := m.Mkdir(c, &proto.CreateReq{Path: p, Mode: mode, UID: c.UID, GID: c.GID}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(c Caller, p string, mode uint32) *proto.Attr {
		t.Helper()
		a, made, err := m.Create(c, &proto.CreateReq{Path: p, Mode: mode, UID: c.UID, GID: c.GID, Exclusive: true})
		if err != nil || !made {
			t.Fatalf("create %s: %v", p, err)
		}
		return a
	}
	want := func(what string, err error, errno syscall.Errno) {
		t.Helper()
		if errno == 0 && err != nil || errno != 0 && !errors.Is(err, errno) {
			t.Errorf("%s: %v, want %v", what, err, errno)
		}
	}
	mk(Root, "/home", 0o755)
	mk(Root, "/home/alice", 0o700)
	if _, err := m.SetAttr(Root, &proto.SetAttrReq{Path: "/home/alice", Mask: proto.SetUID | proto.SetGID, UID: 1000, GID: 1000}); err != nil {
		t.Fatal(err)
	}
	mk(Root, "/tmp", 0o1777)
	mk(Root, "/proj", 0o2775)
	if _, err := m.SetAttr(Root, &proto.SetAttrReq{Path: "/proj", Mask: proto.SetGID, GID: 50}); err != nil {
		t.Fatal(err)
	}

	secret := create(alice, "/home/alice/secret", 0o600)
	if secret.UID != 1000 || secret.GID != 1000 {
		t.Errorf("alice's file owned by %d:%d", secret.UID, secret.GID)
	}
	_, err := m.Lookup(bob, "/home/alice/secret")
	want("bob looks into alice's 0700 home", err, syscall.EACCES)
	_, _, err = m.Create(bob, &proto.CreateReq{Path: "/home/alice/x", Mode: 0o644})
	want("bob creates in alice's home", err, syscall.EACCES)
	_, err = m.Mkdir(bob, &proto.CreateReq{Path: "/home/x", Mode: 0o755})
	want("bob makes a directory in root's 0755 /home", err, syscall.EACCES)
	_, err = m.Readdir(bob, "/home/alice", "", 10)
	want("bob lists alice's home", err, syscall.EACCES)
	_, err = m.Lookup(alice, "/home/alice/secret")
	want("alice looks up her file", err, 0)
	if r := Rights(bob, secret); r != 0 {
		t.Errorf("bob's rights on a 0600 file: %#x", r)
	}
	if r := Rights(alice, secret); r != proto.RightRead|proto.RightWrite|proto.RightOwner {
		t.Errorf("alice's rights on her 0600 file: %#x", r)
	}
	if r := Rights(Root, secret); r != proto.RightRead|proto.RightWrite|proto.RightOwner {
		t.Errorf("root's rights: %#x", r)
	}
	// The owner class decides even when others would get more.
	if r := Rights(alice, &proto.Attr{Type: proto.TypeFile, UID: 1000, Mode: 0o066}); r != proto.RightOwner {
		t.Errorf("owner of a 0066 file gets %#x", r)
	}
	if r := Rights(alice, &proto.Attr{Type: proto.TypeFile, UID: 0, GID: 50, Mode: 0o640}); r != proto.RightRead {
		t.Errorf("member of a supplementary group gets %#x on 0640", r)
	}

	// Sticky /tmp: each removes and renames only its own.
	create(alice, "/tmp/a", 0o666)
	create(bob, "/tmp/b", 0o666)
	_, err = m.Unlink(bob, "/tmp/a")
	want("bob unlinks alice's file in /tmp", err, syscall.EPERM)
	_, err = m.Rename(bob, "/tmp/a", "/tmp/c")
	want("bob renames alice's file in /tmp", err, syscall.EPERM)
	_, err = m.Rename(bob, "/tmp/b", "/tmp/a")
	want("bob renames over alice's file in /tmp", err, syscall.EPERM)
	_, err = m.Rename(bob, "/tmp/b", "/tmp/b2")
	want("bob renames his own file", err, 0)
	_, err = m.Unlink(bob, "/tmp/b2")
	want("bob unlinks his own file", err, 0)
	_, err = m.Unlink(Root, "/tmp/a")
	want("root unlinks in /tmp", err, 0)

	// chmod and chown.
	_, err = m.SetAttr(bob, &proto.SetAttrReq{Path: "/tmp", Mask: proto.SetMode, Mode: 0o777})
	want("bob chmods root's directory", err, syscall.EPERM)
	create(alice, "/tmp/f", 0o644)
	_, err = m.SetAttr(alice, &proto.SetAttrReq{Path: "/tmp/f", Mask: proto.SetUID, UID: 1001})
	want("alice gives her file away", err, syscall.EPERM)
	_, err = m.SetAttr(alice, &proto.SetAttrReq{Path: "/tmp/f", Mask: proto.SetGID, GID: 1001})
	want("alice sets a group she is not in", err, syscall.EPERM)
	_, err = m.SetAttr(alice, &proto.SetAttrReq{Path: "/tmp/f", Mask: proto.SetGID | proto.SetMode, GID: 50, Mode: 0o4755})
	want("alice sets her group and mode", err, 0)
	a, err := m.SetAttr(Root, &proto.SetAttrReq{Path: "/tmp/f", Mask: proto.SetUID, UID: 1001})
	if err != nil || a.UID != 1001 || a.Mode != 0o755 {
		t.Errorf("root chowns a setuid file (Linux drops the bit): %+v, %v", a, err)
	}
	for _, c := range []struct{ mode, want uint32 }{{0o6755, 0o755}, {0o2745, 0o2745}} {
		if _, err := m.SetAttr(Root, &proto.SetAttrReq{Path: "/tmp/f", Mask: proto.SetMode, Mode: c.mode}); err != nil {
			t.Fatal(err)
		}
		a, err = m.SetAttr(bob, &proto.SetAttrReq{Path: "/tmp/f", Mask: proto.SetGID, GID: 1001})
		if err != nil || a.GID != 1001 || a.Mode != c.want {
			t.Errorf("owner's chgrp of a %o file: %+v, %v; want mode %o", c.mode, a, err, c.want)
		}
	}
	_, err = m.SetAttr(alice, &proto.SetAttrReq{Path: "/tmp/f", Mask: proto.SetMtime, Mtime: 5})
	want("alice sets times of bob's 0755 file", err, syscall.EACCES)

	// A setgid directory hands down its group (and to directories, the bit).
	f := create(alice, "/proj/f", 0o664)
	mk(alice, "/proj/d", 0o755)
	d, _ := m.Lookup(alice, "/proj/d")
	if f.GID != 50 || d.GID != 50 || d.Mode != 0o2755 {
		t.Errorf("in a setgid directory: file gid %d, directory gid %d mode %o", f.GID, d.GID, d.Mode)
	}
	// Only root names another owner at create.
	a, _, err = m.Create(bob, &proto.CreateReq{Path: "/tmp/g", Mode: 0o644, UID: 0, GID: 0})
	if err != nil || a.UID != 1001 || a.GID != 1001 {
		t.Errorf("bob creates claiming root: %+v, %v", a, err)
	}
	a, _, err = m.Create(Root, &proto.CreateReq{Path: "/tmp/h", Mode: 0o644, UID: 7, GID: 8})
	if err != nil || a.UID != 7 || a.GID != 8 {
		t.Errorf("root creates for uid 7: %+v, %v", a, err)
	}

	// Moving a directory to another parent needs write permission on it.
	mk(Root, "/tmp/rootdir", 0o755)
	_, err = m.Rename(alice, "/proj/d", "/tmp/d")
	want("alice moves her directory", err, 0)

	// Shared counters and the handle index follow the namespace.
	if !m.Live(f.Handle) {
		t.Error("live file not in the handle index")
	}
	if _, err := m.Unlink(alice, "/proj/f"); err != nil {
		t.Fatal(err)
	}
	if m.Live(f.Handle) {
		t.Error("removed file still in the handle index")
	}
	_, err = m.FetchAdd(f.Handle, 0, 1, false, false, false)
	want("fetch-add on a removed file", err, syscall.ESTALE)
}
