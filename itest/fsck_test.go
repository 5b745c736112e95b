package itest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// ferryCLI runs the real ferry binary and returns its exit code, stdout
// and stderr.
func ferryCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(testcluster.Binary(t, "ferry"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// A data server killed before an unlink: the unlink succeeds (the name is
// gone) with a warning, and leaves an orphan that fsck reports and
// --repair removes. fsck also reports a datafile lost from under a name
// and one on a server its layout does not span, and repairs the latter.
func TestUnlinkWithServerDownThenFsck(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 64 << 10})
	cfg := cl.ConfigPath
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: strips on every server
	write := func(p string, o clientlib.CreateOptions) *clientlib.File {
		f, err := c.Create(ctx, p, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		return f
	}
	write("/keep", clientlib.CreateOptions{})
	victim := write("/victim", clientlib.CreateOptions{})
	lost := write("/lost", clientlib.CreateOptions{})
	single := write("/single", clientlib.CreateOptions{Count: 1})
	datafile := func(server int, handle string) string {
		return filepath.Join(cl.Config.Servers[server].Storage, "data", handle)
	}

	if code, out, errs := ferryCLI(t, "fsck", "--config", cfg); code != 0 || !strings.Contains(out, "0 orphans, 0 missing, 0 misfits") {
		t.Fatalf("fsck of a clean file system: exit %d\n%s%s", code, out, errs)
	}

	down := (c.MetaServer() + 1) % 4
	cl.Kill(down)
	if code, out, errs := ferryCLI(t, "fsck", "--config", cfg); code != 3 || !strings.Contains(errs, "server "+itoa(down)) {
		t.Fatalf("fsck with server %d down: exit %d, want 3 (could not check) naming it\n%s%s", down, code, out, errs)
	}
	code, out, errs := ferryCLI(t, "rm", "--config", cfg, "/victim")
	if code != 0 || !strings.Contains(errs, "fsck") {
		t.Fatalf("rm with server %d down: exit %d, want 0 with a warning naming fsck\n%s%s", down, code, out, errs)
	}
	if _, err := c.Stat(ctx, "/victim"); err == nil {
		t.Fatal("/victim still has a name after rm succeeded")
	}
	cl.StartServer(down)

	// A datafile lost from under a name, and one copied onto a server
	// the file's layout does not span.
	lostOn := lost.Layout().Server(2)
	if err := os.Remove(datafile(lostOn, lost.Handle())); err != nil {
		t.Fatal(err)
	}
	home := single.Layout().Server(0)
	stray := (home + 1) % 4
	b, err := os.ReadFile(datafile(home, single.Handle()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(datafile(stray, single.Handle()), b, 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errs = ferryCLI(t, "fsck", "--config", cfg)
	for _, want := range []string{"orphan: datafile " + victim.Handle(), "on server " + itoa(down),
		"missing: /lost: server " + itoa(lostOn), "misfit: /single", "1 orphans, 1 missing, 1 misfits; 0 removed"} {
		if !strings.Contains(out, want) {
			t.Errorf("fsck output lacks %q", want)
		}
	}
	if code != 1 {
		t.Errorf("fsck with problems: exit %d, want 1", code)
	}
	if t.Failed() {
		t.Fatalf("fsck:\n%s%s", out, errs)
	}
	if _, err := os.Stat(datafile(down, victim.Handle())); err != nil {
		t.Fatalf("read-only fsck touched the orphan: %v", err)
	}

	code, out, errs = ferryCLI(t, "fsck", "--config", cfg, "--repair")
	if code != 1 || !strings.Contains(out, "2 removed") || strings.Count(out, "(removed)") != 2 {
		t.Fatalf("fsck --repair: exit %d (want 1: the missing datafile stays)\n%s%s", code, out, errs)
	}
	for _, p := range []string{datafile(down, victim.Handle()), datafile(stray, single.Handle())} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after repair: %v", p, err)
		}
	}
	for _, p := range []string{"/keep", "/single"} {
		f, err := c.Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(data)+1)
		if n, _ := f.ReadAt(got, 0); n != len(data) || !bytes.Equal(got[:n], data) {
			t.Fatalf("%s after repair: %d bytes, want the %d written", p, n, len(data))
		}
	}
	if err := c.Remove(ctx, "/lost"); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := ferryCLI(t, "fsck", "--config", cfg); code != 0 || !strings.Contains(out, "0 orphans, 0 missing, 0 misfits") {
		t.Fatalf("fsck after repair: exit %d\n%s%s", code, out, errs)
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
