package main

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
)

func TestLs(t *testing.T) {
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	mustRun(t, "mkdir", "--config", cfg, "/dir")
	mustRun(t, "mkdir", "--config", cfg, "-p", "/dir/sub/deeper")
	out := mustRun(t, "ls", "--config", cfg, "/dir")
	if out != "sub/\n" {
		t.Fatalf("ls /dir = %q", out)
	}
	out = mustRun(t, "ls", "--config", cfg, "-l")
	if !strings.Contains(out, "drwxr-xr-x") || !strings.Contains(out, "dir/") {
		t.Fatalf("ls -l / = %q", out)
	}
	if code, _, errs := run(t, "ls", "--config", cfg, "/missing"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("ls missing: %d %q", code, errs)
	}
}

// ls -l with a data server down lists every entry, shows "?" for the
// sizes that server holds part of, says so on stderr and exits 1.
func TestLsLongServerDown(t *testing.T) {
	cl := startCluster(t, 4)
	cfg := cl.ConfigPath
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	ctx := context.Background()
	mustRun(t, "mkdir", "--config", cfg, "/dir")
	wide, err := c.Create(ctx, "/wide", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := c.Create(ctx, "/single", clientlib.CreateOptions{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*clientlib.File{wide, single} {
		if _, err := f.WriteAt(make([]byte, 300000), 0); err != nil {
			t.Fatal(err)
		}
	}
	victim := 0
	for victim == c.MetaServer() || victim == single.Layout().Server(0) {
		victim++
	}
	cl.Kill(victim)
	code, out, errs := run(t, "ls", "--config", cfg, "-l", "/")
	if code != 1 || !strings.Contains(errs, "sizes of 1 of 3 entries unknown") {
		t.Fatalf("ls -l with server %d down: exit %d, stderr %q; want 1 and a warning", victim, code, errs)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l) // mode owner group size date time name
		lines[f[len(f)-1]] = f[len(f)-4]
	}
	if lines["wide"] != "?" || lines["single"] != "300000" || lines["dir/"] == "" {
		t.Fatalf("ls -l with server %d down: %q, want wide with ?, single with 300000, dir/", victim, out)
	}
	// Without -l only the metadata server is asked: no warning, exit 0.
	if out := mustRun(t, "ls", "--config", cfg, "/"); out != "dir/\nsingle\nwide\n" {
		t.Fatalf("ls / with server %d down: %q", victim, out)
	}
	if out := mustRun(t, "ls", "--config", cfg, "/wide"); out != "/wide\n" {
		t.Fatalf("ls /wide with server %d down: %q", victim, out)
	}
}

// Names with control characters are printed quoted: a newline in a name
// cannot forge a line of the listing, nor an escape drive the terminal.
func TestLsQuotesNames(t *testing.T) {
	cl := startCluster(t, 1)
	cfg := cl.ConfigPath
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	for _, n := range []string{"/fake\n-rw-r--r-- root root 1 2026-01-01 00:00 evil", "/esc\x1b[31m", "/plain"} {
		f, err := c.Create(context.Background(), n, clientlib.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	want := `"esc\x1b[31m"` + "\n" + `"fake\n-rw-r--r-- root root 1 2026-01-01 00:00 evil"` + "\nplain\n"
	if out := mustRun(t, "ls", "--config", cfg, "/"); out != want {
		t.Fatalf("ls /:\n%s\nwant\n%s", out, want)
	}
	out := mustRun(t, "ls", "--config", cfg, "-l", "/")
	if n := strings.Count(out, "\n"); n != 3 || !strings.Contains(out, `"fake\n-rw`) {
		t.Fatalf("ls -l / (%d lines):\n%s", n, out)
	}
}

// lsMode writes special bits as ls -l does, in the x columns.
func TestLsMode(t *testing.T) {
	for _, c := range []struct {
		m    fs.FileMode
		want string
	}{
		{0o755, "-rwxr-xr-x"},
		{0o644, "-rw-r--r--"},
		{0o755 | fs.ModeSetuid, "-rwsr-xr-x"},
		{0o644 | fs.ModeSetuid, "-rwSr--r--"},
		{0o755 | fs.ModeDir | fs.ModeSetgid, "drwxr-sr-x"},
		{0o777 | fs.ModeDir | fs.ModeSticky, "drwxrwxrwt"},
		{0o770 | fs.ModeDir | fs.ModeSticky, "drwxrwx--T"},
		{0, "----------"},
	} {
		if got := lsMode(c.m); got != c.want {
			t.Errorf("lsMode(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}
