package meta

import (
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ferry-hpc/ferry/proto"
)

func open(t *testing.T) *Store {
	t.Helper()
	m, err := Open(filepath.Join(t.TempDir(), "meta.db"), 4, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// A directory renamed with its contents keeps them, under the new name.
func TestNamespace(t *testing.T) {
	m := open(t)
	if _, err := m.Mkdir(Root, &proto.CreateReq{Path: "/d", Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	f, _, err := m.Create(Root, &proto.CreateReq{Path: "/d/f", Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	if f.Layout.Total != 4 || f.Layout.Count != 4 || !proto.ValidHandle(f.Handle) {
		t.Fatalf("new file %+v", f)
	}
	if _, _, err := m.Create(Root, &proto.CreateReq{Path: "/d/f", Exclusive: true}); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("exclusive create of an existing name: %v", err)
	}
	if err := m.Rmdir(Root, "/d"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a full directory: %v", err)
	}
	if _, err := m.Rename(Root, "/d", "/e"); err != nil {
		t.Fatal(err)
	}
	a, err := m.Lookup(Root, "/e/f")
	if err != nil || a.Handle != f.Handle {
		t.Fatalf("lookup after rename: %+v, %v", a, err)
	}
	if _, err := m.Lookup(Root, "/d/f"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("old name after rename: %v", err)
	}
	ls, err := m.Readdir(Root, "/e", "", 10)
	if err != nil || len(ls.Entries) != 1 || ls.Entries[0].Name != "f" {
		t.Fatalf("readdir: %+v, %v", ls, err)
	}
	if old, err := m.FetchAdd(f.Handle, 0, 5, false, false, false); old != 0 || err != nil {
		t.Fatalf("fetch-add: %d, %v", old, err)
	}
	if old, _ := m.FetchAdd(f.Handle, 0, 1, false, false, false); old != 5 {
		t.Fatalf("second fetch-add saw %d", old)
	}
	// Neither below 0 nor past the largest int64: an error, and the
	// counter stays as it was.
	if _, err := m.FetchAdd(f.Handle, 0, -7, false, false, false); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("fetch-add below 0: %v, want EINVAL", err)
	}
	if _, err := m.FetchAdd(f.Handle, 0, math.MaxInt64, true, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := m.FetchAdd(f.Handle, 0, 1, false, false, false); !errors.Is(err, syscall.EOVERFLOW) {
		t.Fatalf("fetch-add past MaxInt64: %v, want EOVERFLOW", err)
	}
	if old, err := m.FetchAdd(f.Handle, 0, 0, false, false, false); old != math.MaxInt64 || err != nil {
		t.Fatalf("counter after the refused additions: %d, %v", old, err)
	}
	if _, err := m.Unlink(Root, "/e/f"); err != nil {
		t.Fatal(err)
	}
	if err := m.Rmdir(Root, "/e"); err != nil {
		t.Fatal(err)
	}
}

// ReaddirPlus pages through a directory with every entry's attributes,
// each page under the byte bound, and no name twice or missing.
func TestReaddirPlus(t *testing.T) {
	m := open(t)
	long := strings.Repeat("d", 200)
	if _, err := m.Mkdir(Root, &proto.CreateReq{Path: "/" + long, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	const n = 1200 // 1200 entries of ~500 bytes: more than one page by bytes
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s%05d", strings.Repeat("f", 190), i)
		want[name] = true
		req := &proto.CreateReq{Path: "/" + long + "/" + name, Mode: 0o640, UID: 7, GID: 9}
		if i%2 == 0 {
			_, _, err := m.Create(Root, req)
			if err != nil {
				t.Fatal(err)
			}
		} else if _, err := m.Mkdir(Root, req); err != nil {
			t.Fatal(err)
		}
	}
	after, pages := "", 0
	for {
		r, err := m.ReaddirPlus(Root, "/"+long, after, proto.MaxList)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if got := len(proto.Marshal(r)); got > proto.MaxReaddirPlusBytes+64 {
			t.Fatalf("page of %d bytes", got)
		}
		for _, a := range r.Entries {
			name := path.Base(a.Path)
			if !want[name] || a.UID != 7 || a.GID != 9 || a.Mode != 0o640 {
				t.Fatalf("entry %+v unexpected or repeated", a)
			}
			delete(want, name)
			after = name
		}
		if !r.More {
			break
		}
	}
	if len(want) != 0 || pages < 2 {
		t.Fatalf("%d names missing after %d pages", len(want), pages)
	}
	if _, err := m.ReaddirPlus(Root, "/nope", "", 10); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("listing a missing directory: %v", err)
	}
}

// SetAttr changes exactly what its mask names.
func TestSetAttr(t *testing.T) {
	m := open(t)
	if _, _, err := m.Create(Root, &proto.CreateReq{Path: "/f", Mode: 0o644, UID: 1, GID: 2}); err != nil {
		t.Fatal(err)
	}
	a, err := m.SetAttr(Root, &proto.SetAttrReq{Path: "/f", Mask: proto.SetUID | proto.SetAtime, UID: 42, GID: 99, Atime: 5, Mtime: 6})
	if err != nil {
		t.Fatal(err)
	}
	if a.UID != 42 || a.GID != 2 || a.Atime != 5 || a.Mtime == 6 || a.Mode != 0o644 {
		t.Fatalf("after setattr: %+v", a)
	}
	a, err = m.SetAttr(Root, &proto.SetAttrReq{Path: "/f", Mask: proto.SetGID | proto.SetMtime | proto.SetMode, GID: 99, Mtime: 6, Mode: 0o600})
	if err != nil || a.GID != 99 || a.Mtime != 6 || a.Mode != 0o600 || a.UID != 42 {
		t.Fatalf("after setattr: %+v, %v", a, err)
	}
	if b, _ := m.Lookup(Root, "/f"); *b != *a {
		t.Fatalf("stored %+v, returned %+v", b, a)
	}
}

// FileList pages through every file of the namespace, at any depth and
// past directories, and HandlesKnown tells named handles from the rest.
func TestFileListAndHandlesKnown(t *testing.T) {
	m := open(t)
	want := map[string]string{} // path → handle
	for _, d := range []string{"/a", "/a/b", "/z"} {
		if _, err := m.Mkdir(Root, &proto.CreateReq{Path: d, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 25; i++ {
		p := fmt.Sprintf("%s/f%02d", []string{"", "/a", "/a/b", "/z"}[i%4], i)
		a, _, err := m.Create(Root, &proto.CreateReq{Path: p, Mode: 0o644})
		if err != nil {
			t.Fatal(err)
		}
		want[p] = a.Handle
	}
	got := map[string]string{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > 25 {
			t.Fatal("FileList does not end")
		}
		r, err := m.FileList(after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Files) > 4 {
			t.Fatalf("page of %d files, max 4", len(r.Files))
		}
		for _, a := range r.Files {
			if _, dup := got[a.Path]; dup {
				t.Fatalf("%s listed twice", a.Path)
			}
			got[a.Path] = a.Handle
		}
		if !r.More {
			break
		}
		after = r.Last
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("FileList gave %v, want %v", got, want)
	}
	gone, err := m.Unlink(Root, "/a/f01")
	if err != nil {
		t.Fatal(err)
	}
	stranger := "00000000-0000-4000-8000-000000000000"
	r, err := m.HandlesKnown([]string{want["/z/f03"], gone.Handle, stranger, want["/f00"]})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Known) != "[true false false true]" {
		t.Fatalf("HandlesKnown = %v, want [true false false true]", r.Known)
	}
}

// A name that is not UTF-8 is refused with EINVAL, whoever calls.
func TestInvalidUTF8Name(t *testing.T) {
	m := open(t)
	if _, _, err := m.Create(Root, &proto.CreateReq{Path: "/bad\xff", Mode: 0o644}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("create: %v, want EINVAL", err)
	}
	if _, err := m.Mkdir(Root, &proto.CreateReq{Path: "/bad\xc3", Mode: 0o755}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("mkdir: %v, want EINVAL", err)
	}
	if _, _, err := m.Create(Root, &proto.CreateReq{Path: "/good", Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rename(Root, "/good", "/bad\x80"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("rename: %v, want EINVAL", err)
	}
}

// A store made for one server count refuses another (every file's layout
// depends on it) and keeps its files; a second opener is told the store
// is held.
func TestServerCountKept(t *testing.T) {
	file := filepath.Join(t.TempDir(), "meta.db")
	m, err := Open(file, 3, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Create(Root, &proto.CreateReq{Path: "/f", Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, 3, 1<<20, 0); !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), "another process holds it") {
		t.Errorf("second open of a held store: %v, want EBUSY", err)
	}
	m.Close()
	for _, n := range []int{4, 2} {
		if _, err := Open(file, n, 1<<20, 0); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), fmt.Sprintf("made with 3 servers and the config lists %d", n)) {
			t.Errorf("open with %d servers: %v, want EINVAL naming both counts", n, err)
		}
	}
	m, err = Open(file, 3, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if a, err := m.Lookup(Root, "/f"); err != nil || a.Layout.Total != 3 {
		t.Fatalf("file after refused opens: %+v, %v", a, err)
	}
}

// A file's made counters are apart from its own and from each other,
// exist from their first set until dropped, and go with the file.
func TestMadeCounters(t *testing.T) {
	m := open(t)
	f, _, err := m.Create(Root, &proto.CreateReq{Path: "/f", Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	h := f.Handle
	if _, err := m.FetchAdd(h, 7, 1, false, false, false); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("add to a counter never made: %v, want ENOENT", err)
	}
	if _, err := m.FetchAdd(h, 7, 100, true, false, false); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("set of a counter never made, without create: %v, want ENOENT", err)
	}
	for c, v := range map[uint64]int64{7: 100, 1 << 63: 5} {
		if _, err := m.FetchAdd(h, c, v, true, true, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.FetchAdd(h, 0, 40, false, false, false); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[uint64]int64{0: 40, 7: 100, 1 << 63: 5} {
		if old, err := m.FetchAdd(h, c, 1, false, false, false); old != want || err != nil {
			t.Errorf("counter %d: %d, %v; want %d", c, old, err, want)
		}
	}
	if old, err := m.FetchAdd(h, 7, 0, false, false, true); old != 101 || err != nil {
		t.Fatalf("drop: %d, %v; want its last value 101", old, err)
	}
	if _, err := m.FetchAdd(h, 7, 0, false, false, false); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("dropped counter: %v, want ENOENT", err)
	}
	if _, err := m.FetchAdd(h, 7, 1, true, false, false); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("set of a dropped counter: %v, want ENOENT (it is not made again)", err)
	}
	if _, err := m.Unlink(Root, "/f"); err != nil {
		t.Fatal(err)
	}
	var left int
	m.db.View(func(tx *bolt.Tx) error {
		left = tx.Bucket(bucketCounters).Stats().KeyN
		return nil
	})
	if left != 0 {
		t.Errorf("%d counters left after the file was removed", left)
	}
}
