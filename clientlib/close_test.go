package clientlib_test

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// openFDs is how many descriptors this process has open.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// closed says whether err is a use after Close: fs.ErrClosed for Go
// callers, EBADF for C ones.
func closed(err error) bool {
	return errors.Is(err, fs.ErrClosed) && errors.Is(err, syscall.EBADF) && clientlib.Errno(err) == syscall.EBADF
}

// TestUseAfterClose: a closed file refuses every call, the shared
// counter's too; a closed client refuses every call and dials no server
// again (no descriptor comes back), as its doc says.
func TestUseAfterClose(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c, err := clientlib.Mount(ctx, cl.ConfigPath, clientlib.Options{Provider: "none"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, "/f", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !closed(err) {
		t.Errorf("second Close: %v, want fs.ErrClosed and EBADF", err)
	}
	if _, err := f.ReadAt(make([]byte, 4), 0); !closed(err) {
		t.Errorf("ReadAt after Close: %v", err)
	}
	if _, err := f.FetchAdd(ctx, 1); !closed(err) {
		t.Errorf("FetchAdd after Close: %v", err)
	}
	if _, err := f.SetCounter(ctx, 1); !closed(err) {
		t.Errorf("SetCounter after Close: %v", err)
	}

	g, err := c.Open(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	fds := openFDs(t)
	if _, err := c.Stat(ctx, "/f"); !closed(err) {
		t.Errorf("Stat on a closed client: %v", err)
	}
	if _, err := c.Create(ctx, "/g", clientlib.CreateOptions{}); !closed(err) {
		t.Errorf("Create on a closed client: %v", err)
	}
	if _, err := g.ReadAt(make([]byte, 4), 0); !closed(err) {
		t.Errorf("ReadAt of a closed client's file: %v", err)
	}
	if n := openFDs(t); n > fds {
		t.Errorf("a closed client opened %d descriptors", n-fds)
	}
}

// TestMkdirAllOverFile: as os.MkdirAll, a file where the directory
// should be is ENOTDIR, and a directory already there is fine.
func TestMkdirAllOverFile(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	if _, err := c.Create(ctx, "/file", clientlib.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.MkdirAll(ctx, "/file", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll over a file: %v, want ENOTDIR", err)
	}
	if err := c.MkdirAll(ctx, "/d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.MkdirAll(ctx, "/d/e", 0o755); err != nil {
		t.Errorf("MkdirAll of an existing directory: %v", err)
	}
}

// TestErrorsNameTheCall: an error names the call that failed (stat,
// remove, open), not the request under it (a lookup).
func TestErrorsNameTheCall(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	for op, call := range map[string]func() error{
		"stat":   func() error { _, err := c.Stat(ctx, "/nope"); return err },
		"remove": func() error { return c.Remove(ctx, "/nope") },
		"open":   func() error { _, err := c.Open(ctx, "/nope"); return err },
	} {
		var ce *clientlib.Error
		if err := call(); !errors.As(err, &ce) || ce.Op != op || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s of a missing name: %v, want an error of op %q wrapping ENOENT", op, err, op)
		}
	}
}
