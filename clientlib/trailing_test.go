package clientlib_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// TestTrailingSlash: as in POSIX, a path ending in "/" names a directory:
// create is EISDIR (and makes nothing), a file there is ENOTDIR for
// every call (and stays as it was), a directory there is fine.
func TestTrailingSlash(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	if _, err := c.Create(ctx, "/file", clientlib.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(ctx, "/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	is := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	_, err := c.Create(ctx, "/new/", clientlib.CreateOptions{})
	is("Create(/new/)", err, syscall.EISDIR)
	_, err = c.Stat(ctx, "/new")
	is("Stat(/new) after it", err, syscall.ENOENT)
	_, err = c.Create(ctx, "/file/", clientlib.CreateOptions{})
	is("Create(/file/)", err, syscall.EISDIR)

	_, err = c.Stat(ctx, "/file/")
	is("Stat(/file/)", err, syscall.ENOTDIR)
	_, err = c.Open(ctx, "/file/")
	is("Open(/file/)", err, syscall.ENOTDIR)
	is("Unlink(/file/)", c.Unlink(ctx, "/file/"), syscall.ENOTDIR)
	is("Remove(/file/)", c.Remove(ctx, "/file/"), syscall.ENOTDIR)
	is("Chmod(/file/)", c.Chmod(ctx, "/file/", 0o600), syscall.ENOTDIR)
	is("Chown(/file/)", c.Chown(ctx, "/file/", -1, 0), syscall.ENOTDIR)
	m := uint32(0o600)
	_, err = c.SetAttr(ctx, "/file/", clientlib.AttrChange{Mode: &m})
	is("SetAttr(/file/)", err, syscall.ENOTDIR)
	is("Rename(/file/, /x)", c.Rename(ctx, "/file/", "/x"), syscall.ENOTDIR)
	is("Rename(/file, /x/)", c.Rename(ctx, "/file", "/x/"), syscall.ENOTDIR)
	is("Rename(/dir, /file/)", c.Rename(ctx, "/dir", "/file/"), syscall.ENOTDIR)
	is("Rename(/missing, /file/)", c.Rename(ctx, "/missing", "/file/"), syscall.ENOENT)

	fi, err := c.Stat(ctx, "/file")
	if err != nil || fi.IsDir() || fi.Mode().Perm() != 0o644 {
		t.Fatalf("/file after the refused calls: %v, %v", fi, err)
	}
	if fi, err := c.Stat(ctx, "/dir/"); err != nil || !fi.IsDir() {
		t.Fatalf("Stat(/dir/): %v, %v", fi, err)
	}
	if err := c.Rename(ctx, "/dir/", "/dir2/"); err != nil {
		t.Fatalf("Rename(/dir/, /dir2/): %v", err)
	}
	if err := c.Remove(ctx, "/dir2/"); err != nil {
		t.Fatalf("Remove(/dir2/): %v", err)
	}
}
