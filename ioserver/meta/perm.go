package meta

import (
	"fmt"
	"path"
	"slices"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// Caller is the user a request acts for: who the server has established
// is on the other end of the connection, after root squash.
type Caller struct {
	UID, GID uint32
	Groups   []uint32 // supplementary groups
}

// Root is the superuser, for callers inside the server and tests.
var Root = Caller{}

// Nobody is the user root is mapped to under root squash, and the user
// of a connection that has not said who it is.
const Nobody = 65534

func (c Caller) root() bool { return c.UID == 0 }

// inGroup reports whether g is the caller's primary or a supplementary group.
func (c Caller) inGroup(g uint32) bool { return c.GID == g || slices.Contains(c.Groups, g) }

// Permission bits as access(2) names them.
const (
	mayRead  = 4
	mayWrite = 2
	mayExec  = 1
)

// may reports whether c may do want (a mask of mayRead, mayWrite,
// mayExec) on a, by the owner, group or other bits, POSIX style: the
// first class that matches decides, even if a later one would allow more.
// Root may read and write anything, and search any directory or run any
// file with an execute bit.
func may(c Caller, a *proto.Attr, want uint32) bool {
	if c.root() {
		if want&mayExec == 0 || a.Type == proto.TypeDir {
			return true
		}
		return a.Mode&0o111 != 0
	}
	var bits uint32
	switch {
	case c.UID == a.UID:
		bits = a.Mode >> 6
	case c.inGroup(a.GID):
		bits = a.Mode >> 3
	default:
		bits = a.Mode
	}
	return bits&want == want
}

// Rights are the capability rights c has on file a.
func Rights(c Caller, a *proto.Attr) proto.Rights {
	if a.Type != proto.TypeFile {
		return 0
	}
	var r proto.Rights
	if may(c, a, mayRead) {
		r |= proto.RightRead
	}
	if may(c, a, mayWrite) {
		r |= proto.RightWrite
	}
	if c.root() || c.UID == a.UID {
		r |= proto.RightOwner
	}
	return r
}

func denied(op, p string) error { return fmt.Errorf("%s %s: %w", op, p, unix.EACCES) }

// search checks that c may search every directory on the way to p (p's
// ancestors, not p) and returns p's parent; for "/" it returns nil.
func search(ns *bolt.Bucket, c Caller, p string) (*proto.Attr, error) {
	if p == "/" {
		return nil, nil
	}
	var dirs []string
	for d := path.Dir(p); ; d = path.Dir(d) {
		dirs = append(dirs, d)
		if d == "/" {
			break
		}
	}
	var a *proto.Attr
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		if a, err = get(ns, dirs[i]); err != nil {
			return nil, err
		}
		if a.Type != proto.TypeDir {
			return nil, fmt.Errorf("%s: %w", dirs[i], unix.ENOTDIR)
		}
		if !may(c, a, mayExec) {
			return nil, denied("search", dirs[i])
		}
	}
	return a, nil
}

// writableDir checks that c may add or remove names in p's parent
// (search on the way, write and search on the parent) and returns the parent.
func writableDir(ns *bolt.Bucket, c Caller, op, p string) (*proto.Attr, error) {
	if p == "/" {
		return nil, fmt.Errorf("/: %w", unix.EBUSY)
	}
	parent, err := search(ns, c, p)
	if err != nil {
		return nil, err
	}
	if !may(c, parent, mayWrite|mayExec) {
		return nil, denied(op, p)
	}
	return parent, nil
}

// sticky checks that c may remove or replace victim from dir: in a
// sticky directory only the owner of the entry or of the directory, or
// root, may (EPERM, as Linux answers).
func sticky(c Caller, dir, victim *proto.Attr, op string) error {
	if dir.Mode&unix.S_ISVTX == 0 || c.root() || c.UID == victim.UID || c.UID == dir.UID {
		return nil
	}
	return fmt.Errorf("%s %s: in sticky directory %s only the owner of the entry or of the directory may remove or rename it: %w", op, victim.Path, dir.Path, unix.EPERM)
}

// owned fills in the owner, group and mode of a new entry made by c in
// parent. Root may give it any owner; others own it themselves and may
// name a group they are in. A setgid parent hands its group down (and,
// to directories, its setgid bit), as on Linux.
func owned(c Caller, parent *proto.Attr, r *proto.CreateReq, a *proto.Attr) {
	a.Mode = r.Mode & 0o7777
	a.UID, a.GID = c.UID, c.GID
	if c.root() {
		a.UID, a.GID = r.UID, r.GID
	} else if c.inGroup(r.GID) {
		a.GID = r.GID
	}
	if parent.Mode&unix.S_ISGID != 0 {
		a.GID = parent.GID
		if a.Type == proto.TypeDir {
			a.Mode |= unix.S_ISGID
		}
	}
	if a.Mode&unix.S_ISGID != 0 && a.Type == proto.TypeFile && !c.root() && !c.inGroup(a.GID) {
		a.Mode &^= unix.S_ISGID
	}
}

// setAttrAllowed checks a SetAttr request against a's owner: only the
// owner or root changes the mode; only root changes the owner; the owner
// may change the group to one of its own; times need ownership or write
// permission (touch).
func setAttrAllowed(c Caller, a *proto.Attr, r *proto.SetAttrReq) error {
	if c.root() {
		return nil
	}
	owner := c.UID == a.UID
	if r.Mask&proto.SetMode != 0 && !owner {
		return fmt.Errorf("chmod %s: not the owner: %w", a.Path, unix.EPERM)
	}
	if r.Mask&proto.SetUID != 0 && r.UID != a.UID {
		return fmt.Errorf("chown %s: only root changes a file's owner: %w", a.Path, unix.EPERM)
	}
	if r.Mask&proto.SetGID != 0 && r.GID != a.GID && (!owner || !c.inGroup(r.GID)) {
		return fmt.Errorf("chgrp %s to %d: not the owner or not in that group: %w", a.Path, r.GID, unix.EPERM)
	}
	if r.Mask&(proto.SetAtime|proto.SetMtime) != 0 && !owner && !may(c, a, mayWrite) {
		return fmt.Errorf("set times of %s: %w", a.Path, unix.EACCES)
	}
	return nil
}
