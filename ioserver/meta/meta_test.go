package meta

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

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
	if _, err := m.Mkdir(&proto.CreateReq{Path: "/d", Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	f, err := m.Create(&proto.CreateReq{Path: "/d/f", Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	if f.Layout.Total != 4 || f.Layout.Count != 4 || !proto.ValidHandle(f.Handle) {
		t.Fatalf("new file %+v", f)
	}
	if _, err := m.Create(&proto.CreateReq{Path: "/d/f", Exclusive: true}); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("exclusive create of an existing name: %v", err)
	}
	if err := m.Rmdir("/d"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a full directory: %v", err)
	}
	if _, err := m.Rename("/d", "/e"); err != nil {
		t.Fatal(err)
	}
	a, err := m.Lookup("/e/f")
	if err != nil || a.Handle != f.Handle {
		t.Fatalf("lookup after rename: %+v, %v", a, err)
	}
	if _, err := m.Lookup("/d/f"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("old name after rename: %v", err)
	}
	ls, err := m.Readdir("/e", "", 10)
	if err != nil || len(ls.Entries) != 1 || ls.Entries[0].Name != "f" {
		t.Fatalf("readdir: %+v, %v", ls, err)
	}
	if old, err := m.FetchAdd(f.Handle, 5, false); old != 0 || err != nil {
		t.Fatalf("fetch-add: %d, %v", old, err)
	}
	if old, _ := m.FetchAdd(f.Handle, 1, false); old != 5 {
		t.Fatalf("second fetch-add saw %d", old)
	}
	if _, err := m.Unlink("/e/f"); err != nil {
		t.Fatal(err)
	}
	if err := m.Rmdir("/e"); err != nil {
		t.Fatal(err)
	}
}
