// Package meta is Ferry's metadata service: the namespace (directories,
// names, file handles, layouts, modes, times) and the shared counters of
// MPI-IO's shared file pointers, in one bbolt file on the metadata server.
//
// Entries are keyed by parent path + NUL + name, so a directory's children
// are one contiguous key range and a listing is a prefix scan. Every
// operation is one bbolt transaction: a crash leaves each entry whole or
// absent. Paths arrive checked (absolute, clean) by proto's decoders.
// Errors wrap the errno a client should see (ENOENT, EEXIST, ENOTDIR ...).
package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
)

var (
	bucketNS       = []byte("namespace")
	bucketCounters = []byte("counters")
	// bucketHandles holds the handle of every file in the namespace, so
	// that renewals and shared counters can tell a live file from a
	// removed one without a path.
	bucketHandles = []byte("handles")
	// bucketFS holds facts of the whole file system: keyServers, the
	// server count files are laid out over.
	bucketFS   = []byte("filesystem")
	keyServers = []byte("servers")
)

// Store is the namespace of one file system.
type Store struct {
	db           *bolt.DB
	total        int   // servers in the configuration
	defaultStrip int64 // strip size of new files
	defaultCount int   // servers a new file spans
}

// Open opens (or creates, with its root directory) the store in file.
// total is the servers in the file system; new files get strip-byte strips
// over count of them (0: all) unless their create request says otherwise.
func Open(file string, total int, strip int64, count int) (*Store, error) {
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open metadata store %s: another process holds it (a second metadata server on this storage?): %w", file, unix.EBUSY)
	}
	if err != nil {
		return nil, fmt.Errorf("open metadata store %s: %w", file, err)
	}
	if count == 0 {
		count = total
	}
	m := &Store{db: db, total: total, defaultStrip: strip, defaultCount: count}
	err = db.Update(func(tx *bolt.Tx) error {
		ns, err := tx.CreateBucketIfNotExists(bucketNS)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketCounters); err != nil {
			return err
		}
		if err := checkServers(tx, total); err != nil {
			return err
		}
		if tx.Bucket(bucketHandles) == nil {
			if err := indexHandles(tx); err != nil {
				return err
			}
		}
		if ns.Get(key("/")) == nil {
			// Like /tmp: everyone may make entries, only their owners remove them.
			now := time.Now().UnixNano()
			root := proto.Attr{Path: "/", Type: proto.TypeDir, Mode: 0o1777, Atime: now, Mtime: now, Ctime: now}
			return ns.Put(key("/"), proto.Marshal(&root))
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise metadata store %s: %w", file, err)
	}
	return m, nil
}

// checkServers records the server count in a store that has none (a new
// one, or one made before the count was kept) and refuses one made for
// another count: every file's layout names the servers it spans by their
// place among all of them, so a server added or taken away makes every
// file unreadable, and Ferry does not move strips to a new set.
func checkServers(tx *bolt.Tx, total int) error {
	b, err := tx.CreateBucketIfNotExists(bucketFS)
	if err != nil {
		return err
	}
	if v := b.Get(keyServers); len(v) == 4 {
		if had := int(binary.LittleEndian.Uint32(v)); had != total {
			return fmt.Errorf("the file system was made with %d servers and the config lists %d: "+
				"files are striped over a fixed set of servers, so the config's [[server]] list must stay as it was: %w",
				had, total, unix.EINVAL)
		}
		return nil
	}
	return b.Put(keyServers, binary.LittleEndian.AppendUint32(nil, uint32(total)))
}

// indexHandles builds the handle index of a store made before it had one.
func indexHandles(tx *bolt.Tx) error {
	hb, err := tx.CreateBucket(bucketHandles)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketNS).ForEach(func(k, v []byte) error {
		var a proto.Attr
		if err := proto.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("corrupt metadata entry %q: %w", k, err)
		}
		if a.Type == proto.TypeFile {
			return hb.Put([]byte(a.Handle), nil)
		}
		return nil
	})
}

// Live reports whether handle names a file in the namespace.
func (m *Store) Live(handle string) bool {
	live := false
	m.db.View(func(tx *bolt.Tx) error {
		live = tx.Bucket(bucketHandles).Get([]byte(handle)) != nil
		return nil
	})
	return live
}

// forget drops a removed file's handle and shared counters.
func forget(tx *bolt.Tx, handle string) error {
	if err := tx.Bucket(bucketHandles).Delete([]byte(handle)); err != nil {
		return err
	}
	b := tx.Bucket(bucketCounters)
	if err := b.Delete([]byte(handle)); err != nil {
		return err
	}
	var made [][]byte
	prefix := []byte(handle + "#")
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		made = append(made, bytes.Clone(k))
	}
	for _, k := range made {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the store.
func (m *Store) Close() error { return m.db.Close() }

// key of an absolute clean path: parent NUL name; the root is "\x00".
func key(p string) []byte {
	if p == "/" {
		return []byte{0}
	}
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "/"
	}
	return []byte(dir + "\x00" + name)
}

// childPrefix is the key prefix of dir's children.
func childPrefix(dir string) []byte { return []byte(dir + "\x00") }

func get(ns *bolt.Bucket, p string) (*proto.Attr, error) {
	v := ns.Get(key(p))
	if v == nil {
		return nil, fmt.Errorf("%s: %w", p, unix.ENOENT)
	}
	var a proto.Attr
	if err := proto.Unmarshal(v, &a); err != nil {
		return nil, fmt.Errorf("%s: corrupt metadata entry: %w", p, err)
	}
	return &a, nil
}

func put(ns *bolt.Bucket, a *proto.Attr) error { return ns.Put(key(a.Path), proto.Marshal(a)) }

func touch(ns *bolt.Bucket, a *proto.Attr, now int64) error {
	a.Mtime, a.Ctime = now, now
	return put(ns, a)
}

// Lookup returns p's attributes, if c may search the directories on the way.
func (m *Store) Lookup(c Caller, p string) (*proto.Attr, error) {
	var a *proto.Attr
	err := m.db.View(func(tx *bolt.Tx) (err error) {
		ns := tx.Bucket(bucketNS)
		if _, err := search(ns, c, p); err != nil {
			return err
		}
		a, err = get(ns, p)
		return err
	})
	return a, err
}

// checkName refuses a path that proto's decoders would not have let
// through: the store is also used without them, and a name written once
// is served to every client after.
func checkName(op, p string) error {
	c, err := proto.CleanPath(p)
	if err != nil {
		if !errors.Is(err, unix.EINVAL) {
			err = fmt.Errorf("%w: %w", err, unix.EINVAL)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if c != p {
		return fmt.Errorf("%s %q: not a clean path (%q): %w", op, p, c, unix.EINVAL)
	}
	return nil
}

// Create makes a file owned by c, or returns the existing file unless
// Exclusive (whose rights the caller then checks, as open does); made
// says which.
func (m *Store) Create(c Caller, r *proto.CreateReq) (a *proto.Attr, made bool, err error) {
	if err := checkName("create", r.Path); err != nil {
		return nil, false, err
	}
	strip := r.StripSize
	if strip == 0 {
		strip = m.defaultStrip
	}
	count := r.Count
	if count == 0 {
		count = m.defaultCount
	}
	if count > m.total {
		return nil, false, fmt.Errorf("create %s: %d servers asked, the file system has %d: %w", r.Path, count, m.total, unix.EINVAL)
	}
	h := uuid.New()
	l := layout.Layout{StripSize: strip, Count: count, Total: m.total,
		First: int(binary.LittleEndian.Uint32(h[:4]) % uint32(m.total))} // spread first strips over servers
	if err := l.Validate(); err != nil {
		return nil, false, fmt.Errorf("create %s: %w: %w", r.Path, err, unix.EINVAL)
	}
	var out *proto.Attr
	err = m.db.Update(func(tx *bolt.Tx) error {
		ns := tx.Bucket(bucketNS)
		parent, err := search(ns, c, r.Path)
		if err != nil {
			return err
		}
		if old, err := get(ns, r.Path); err == nil {
			if r.Exclusive {
				return fmt.Errorf("%s: %w", r.Path, unix.EEXIST)
			}
			if old.Type != proto.TypeFile {
				return fmt.Errorf("%s: %w", r.Path, unix.EISDIR)
			}
			out = old
			return nil
		}
		if _, err := writableDir(ns, c, "create", r.Path); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		out = &proto.Attr{Path: r.Path, Type: proto.TypeFile, Handle: h.String(), Atime: now, Mtime: now, Ctime: now, Layout: l}
		owned(c, parent, r, out)
		if err := put(ns, out); err != nil {
			return err
		}
		if err := tx.Bucket(bucketHandles).Put([]byte(out.Handle), nil); err != nil {
			return err
		}
		made = true
		return touch(ns, parent, now)
	})
	return out, made, err
}

// Mkdir makes a directory owned by c.
func (m *Store) Mkdir(c Caller, r *proto.CreateReq) (*proto.Attr, error) {
	if err := checkName("mkdir", r.Path); err != nil {
		return nil, err
	}
	var out *proto.Attr
	err := m.db.Update(func(tx *bolt.Tx) error {
		ns := tx.Bucket(bucketNS)
		if r.Path == "/" {
			return fmt.Errorf("/: %w", unix.EEXIST)
		}
		parent, err := search(ns, c, r.Path)
		if err != nil {
			return err
		}
		if ns.Get(key(r.Path)) != nil {
			return fmt.Errorf("%s: %w", r.Path, unix.EEXIST)
		}
		if _, err := writableDir(ns, c, "mkdir", r.Path); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		out = &proto.Attr{Path: r.Path, Type: proto.TypeDir, Atime: now, Mtime: now, Ctime: now}
		owned(c, parent, r, out)
		if err := put(ns, out); err != nil {
			return err
		}
		return touch(ns, parent, now)
	})
	return out, err
}

func hasChildren(ns *bolt.Bucket, dir string) bool {
	pre := childPrefix(dir)
	k, _ := ns.Cursor().Seek(pre)
	return k != nil && bytes.HasPrefix(k, pre)
}

// Rmdir removes an empty directory.
func (m *Store) Rmdir(c Caller, p string) error {
	if p == "/" {
		return fmt.Errorf("/: cannot remove the root: %w", unix.EBUSY)
	}
	return m.db.Update(func(tx *bolt.Tx) error {
		ns := tx.Bucket(bucketNS)
		parent, err := writableDir(ns, c, "rmdir", p)
		if err != nil {
			return err
		}
		a, err := get(ns, p)
		if err != nil {
			return err
		}
		if a.Type != proto.TypeDir {
			return fmt.Errorf("%s: %w", p, unix.ENOTDIR)
		}
		if err := sticky(c, parent, a, "rmdir"); err != nil {
			return err
		}
		if hasChildren(ns, p) {
			return fmt.Errorf("%s: %w", p, unix.ENOTEMPTY)
		}
		if err := ns.Delete(key(p)); err != nil {
			return err
		}
		return touch(ns, parent, time.Now().UnixNano())
	})
}

// Unlink removes a file's name and returns what it named.
func (m *Store) Unlink(c Caller, p string) (*proto.Attr, error) {
	var out *proto.Attr
	err := m.db.Update(func(tx *bolt.Tx) error {
		ns := tx.Bucket(bucketNS)
		parent, err := writableDir(ns, c, "unlink", p)
		if err != nil {
			return err
		}
		a, err := get(ns, p)
		if err != nil {
			return err
		}
		if a.Type != proto.TypeFile {
			return fmt.Errorf("%s: %w", p, unix.EISDIR)
		}
		if err := sticky(c, parent, a, "unlink"); err != nil {
			return err
		}
		if err := ns.Delete(key(p)); err != nil {
			return err
		}
		if err := forget(tx, a.Handle); err != nil {
			return err
		}
		out = a
		return touch(ns, parent, time.Now().UnixNano())
	})
	return out, err
}

// Rename moves old to new. A file at new is replaced (and returned, so
// its datafiles can be removed); an empty directory at new is replaced by
// a directory.
func (m *Store) Rename(c Caller, oldp, newp string) (*proto.RenameResp, error) {
	if oldp == "/" || newp == "/" {
		return nil, fmt.Errorf("rename %s to %s: %w", oldp, newp, unix.EBUSY)
	}
	if err := checkName("rename", newp); err != nil {
		return nil, err
	}
	if strings.HasPrefix(newp, oldp+"/") {
		return nil, fmt.Errorf("rename %s into itself (%s): %w", oldp, newp, unix.EINVAL)
	}
	resp := &proto.RenameResp{}
	err := m.db.Update(func(tx *bolt.Tx) error {
		ns := tx.Bucket(bucketNS)
		oldParent, err := writableDir(ns, c, "rename", oldp)
		if err != nil {
			return err
		}
		src, err := get(ns, oldp)
		if err != nil {
			return err
		}
		if oldp == newp {
			return nil
		}
		newParent, err := writableDir(ns, c, "rename", newp)
		if err != nil {
			return err
		}
		if err := sticky(c, oldParent, src, "rename"); err != nil {
			return err
		}
		// A directory that changes parent has its ".." rewritten: POSIX
		// asks for write permission on it.
		if src.Type == proto.TypeDir && path.Dir(oldp) != path.Dir(newp) && !may(c, src, mayWrite) {
			return denied("rename", oldp)
		}
		if dst, err := get(ns, newp); err == nil {
			if err := sticky(c, newParent, dst, "rename over"); err != nil {
				return err
			}
			switch {
			case src.Type == proto.TypeDir && dst.Type != proto.TypeDir:
				return fmt.Errorf("rename %s to %s: %w", oldp, newp, unix.ENOTDIR)
			case src.Type != proto.TypeDir && dst.Type == proto.TypeDir:
				return fmt.Errorf("rename %s to %s: %w", oldp, newp, unix.EISDIR)
			case dst.Type == proto.TypeDir && hasChildren(ns, newp):
				return fmt.Errorf("rename %s to %s: %w", oldp, newp, unix.ENOTEMPTY)
			}
			if dst.Type == proto.TypeFile {
				resp.Replaced, resp.Attr = true, *dst
				if err := forget(tx, dst.Handle); err != nil {
					return err
				}
			}
		}
		now := time.Now().UnixNano()
		if err := ns.Delete(key(oldp)); err != nil {
			return err
		}
		src.Path, src.Ctime = newp, now
		if err := put(ns, src); err != nil {
			return err
		}
		if src.Type == proto.TypeDir {
			if err := moveDescendants(ns, oldp, newp); err != nil {
				return err
			}
		}
		for _, d := range []string{path.Dir(oldp), path.Dir(newp)} {
			parent, err := get(ns, d)
			if err != nil {
				return err
			}
			if err := touch(ns, parent, now); err != nil {
				return err
			}
		}
		return nil
	})
	return resp, err
}

// moveDescendants rewrites every entry below oldp to lie below newp.
func moveDescendants(ns *bolt.Bucket, oldp, newp string) error {
	type kv struct{ k, v []byte }
	var moved []kv
	for _, pre := range [][]byte{childPrefix(oldp), []byte(oldp + "/")} {
		c := ns.Cursor()
		for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
			moved = append(moved, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
	}
	for _, e := range moved {
		var a proto.Attr
		if err := proto.Unmarshal(e.v, &a); err != nil {
			return fmt.Errorf("corrupt entry under %s: %w", oldp, err)
		}
		a.Path = newp + strings.TrimPrefix(a.Path, oldp)
		if err := ns.Delete(e.k); err != nil {
			return err
		}
		if err := put(ns, &a); err != nil {
			return err
		}
	}
	return nil
}

// Readdir lists up to max names of dir after `after`.
func (m *Store) Readdir(c Caller, dir, after string, max int) (*proto.ReaddirResp, error) {
	resp := &proto.ReaddirResp{}
	err := m.scan(c, mayRead, dir, after, func(name string, a *proto.Attr) bool {
		if len(resp.Entries) == max {
			resp.More = true
			return false
		}
		resp.Entries = append(resp.Entries, proto.Dirent{Name: name, Type: a.Type})
		return true
	})
	return resp, err
}

// ReaddirPlus lists up to max entries of dir after `after` with their
// attributes, in pages of at most proto.MaxReaddirPlusBytes.
// Listing attributes needs search permission on dir as well as read, as
// stat of each entry would.
func (m *Store) ReaddirPlus(c Caller, dir, after string, max int) (*proto.ReaddirPlusResp, error) {
	resp := &proto.ReaddirPlusResp{}
	bytes := 0
	err := m.scan(c, mayRead|mayExec, dir, after, func(name string, a *proto.Attr) bool {
		n := a.EncodedLen() + proto.CapBytes
		if len(resp.Entries) == max || (len(resp.Entries) > 0 && bytes+n > proto.MaxReaddirPlusBytes) {
			resp.More = true
			return false
		}
		bytes += n
		resp.Entries = append(resp.Entries, *a)
		return true
	})
	return resp, err
}

// scan calls each with dir's entries after `after`, in name order, until
// it returns false; c needs want permission on dir.
func (m *Store) scan(c Caller, want uint32, dir, after string, each func(name string, a *proto.Attr) bool) error {
	return m.db.View(func(tx *bolt.Tx) error {
		ns := tx.Bucket(bucketNS)
		if _, err := search(ns, c, dir); err != nil {
			return err
		}
		a, err := get(ns, dir)
		if err != nil {
			return err
		}
		if a.Type != proto.TypeDir {
			return fmt.Errorf("%s: %w", dir, unix.ENOTDIR)
		}
		if !may(c, a, want) {
			return denied("list", dir)
		}
		pre := childPrefix(dir)
		c := ns.Cursor()
		k, v := c.Seek(append(append([]byte(nil), pre...), after...))
		for ; k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
			name := string(k[len(pre):])
			if after != "" && name <= after {
				continue
			}
			var e proto.Attr
			if err := proto.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt entry %s in %s: %w", name, dir, err)
			}
			if !each(name, &e) {
				return nil
			}
		}
		return nil
	})
}

// SetAttr changes what the request's mask says: mode, owner, times.
// Only the owner or root changes the mode, only root the owner, and the
// owner the group to one of its own; a non-root chown or chgrp of a file
// clears its setuid and setgid bits, as Linux does (unless the same
// request sets the mode).
func (m *Store) SetAttr(c Caller, r *proto.SetAttrReq) (*proto.Attr, error) {
	var out *proto.Attr
	err := m.db.Update(func(tx *bolt.Tx) error {
		ns := tx.Bucket(bucketNS)
		if _, err := search(ns, c, r.Path); err != nil {
			return err
		}
		a, err := get(ns, r.Path)
		if err != nil {
			return err
		}
		if err := setAttrAllowed(c, a, r); err != nil {
			return err
		}
		if r.Mask&proto.SetMode != 0 {
			a.Mode = r.Mode & 0o7777
		}
		if r.Mask&proto.SetMtime != 0 {
			a.Mtime = r.Mtime
		}
		if r.Mask&proto.SetAtime != 0 {
			a.Atime = r.Atime
		}
		if r.Mask&proto.SetUID != 0 {
			a.UID = r.UID
		}
		if r.Mask&proto.SetGID != 0 {
			a.GID = r.GID
		}
		if r.Mask&(proto.SetUID|proto.SetGID) != 0 && r.Mask&proto.SetMode == 0 && a.Type == proto.TypeFile {
			// As Linux (since 2.2.13), for root too: a new owner or
			// group drops setuid, and setgid where the group may
			// execute (without that, setgid means mandatory locking).
			a.Mode &^= unix.S_ISUID
			if a.Mode&unix.S_IXGRP != 0 {
				a.Mode &^= unix.S_ISGID
			}
		}
		if r.Mask&proto.SetMode != 0 && a.Type == proto.TypeFile && !c.root() && !c.inGroup(a.GID) {
			a.Mode &^= unix.S_ISGID
		}
		a.Ctime = time.Now().UnixNano()
		out = a
		return put(ns, a)
	})
	return out, err
}

// FetchAdd adds delta to (or, with set, stores delta in) one of the
// file's shared counters and returns the old value: MPI-IO's shared file
// pointer. Counter 0 is the file's own, 0 until first changed; any other
// is made by a set with create (a counter of one collective open), ENOENT
// until then and after drop removes it (answering its last value). Only
// files in the namespace have counters (ESTALE for a removed one), so a
// counter cannot outlive its file or be made for a made-up handle. A
// counter never goes negative (EINVAL) or wraps (EOVERFLOW); it is then
// left as it was.
func (m *Store) FetchAdd(handle string, counter uint64, delta int64, set, create, drop bool) (int64, error) {
	var old int64
	err := m.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketHandles).Get([]byte(handle)) == nil {
			return fmt.Errorf("shared counter of %s: no such file: %w", handle, unix.ESTALE)
		}
		b := tx.Bucket(bucketCounters)
		k := counterKey(handle, counter)
		v := b.Get(k)
		if len(v) == 8 {
			old = int64(binary.LittleEndian.Uint64(v))
		} else if counter != 0 && !(set && create) {
			return fmt.Errorf("shared counter %d of %s: no such counter: %w", counter, handle, unix.ENOENT)
		}
		if drop {
			return b.Delete(k)
		}
		nv := old + delta
		switch {
		case set:
			nv = delta
		case delta > 0 && nv < old, delta < 0 && nv > old:
			return fmt.Errorf("shared counter of %s: %d%+d does not fit in 64 bits: %w", handle, old, delta, unix.EOVERFLOW)
		}
		if nv < 0 {
			return fmt.Errorf("shared counter of %s would go negative (%d): %w", handle, nv, unix.EINVAL)
		}
		return b.Put(k, binary.LittleEndian.AppendUint64(nil, uint64(nv)))
	})
	return old, err
}

// counterKey is where counter c of handle's file is kept: the handle for
// the file's own, the handle, '#' and c for the others, so a file's
// counters are one key range.
func counterKey(handle string, c uint64) []byte {
	if c == 0 {
		return []byte(handle)
	}
	return binary.BigEndian.AppendUint64([]byte(handle+"#"), c)
}

// FileList returns up to max files of the whole namespace whose entries
// come after the path `after` ("" from the start) in the store's key
// order, and the path to resume after. Each page is its own transaction:
// a file renamed between pages may be listed twice or not at all, which
// is why fsck confirms with HandlesKnown before it removes anything.
func (m *Store) FileList(after string, max int) (*proto.FileListResp, error) {
	resp := &proto.FileListResp{}
	size := 0
	err := m.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketNS).Cursor()
		var k, v []byte
		if after == "" {
			k, v = c.First()
		} else {
			start := key(after)
			k, v = c.Seek(start)
			if k != nil && bytes.Equal(k, start) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			var a proto.Attr
			if err := proto.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("corrupt metadata entry %q: %w", k, err)
			}
			if a.Type != proto.TypeFile {
				resp.Last = a.Path
				continue
			}
			n := a.EncodedLen()
			if len(resp.Files) == max || (len(resp.Files) > 0 && size+n > proto.MaxReaddirPlusBytes) {
				resp.More = true
				return nil
			}
			size += n
			resp.Files = append(resp.Files, a)
			resp.Last = a.Path
		}
		return nil
	})
	if !resp.More {
		resp.Last = ""
	}
	return resp, err
}

// HandlesKnown reports, for each handle, whether a file of the namespace
// has it, from one snapshot: a scan of every entry, so its cost is the
// size of the namespace (fsck asks it only about suspected orphans).
func (m *Store) HandlesKnown(handles []string) (*proto.HandlesKnownResp, error) {
	want := make(map[string]bool, len(handles))
	for _, h := range handles {
		want[h] = false
	}
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNS).ForEach(func(k, v []byte) error {
			var a proto.Attr
			if err := proto.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("corrupt metadata entry %q: %w", k, err)
			}
			if _, ok := want[a.Handle]; ok && a.Type == proto.TypeFile {
				want[a.Handle] = true
			}
			return nil
		})
	})
	resp := &proto.HandlesKnownResp{Known: make([]bool, len(handles))}
	for i, h := range handles {
		resp.Known[i] = want[h]
	}
	return resp, err
}
