package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
)

func TestRm(t *testing.T) {
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	mustRun(t, "mkdir", "--config", cfg, "-p", "/t/u")
	if code, _, errs := run(t, "rm", "--config", cfg, "/t"); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("rm of non-empty dir: %d %q", code, errs)
	}
	mustRun(t, "rm", "--config", cfg, "-r", "/t")
	if out := mustRun(t, "ls", "--config", cfg); out != "" {
		t.Fatalf("after rm -r: %q", out)
	}
	if code, _, _ := run(t, "rm", "--config", cfg, "/gone"); code != 1 {
		t.Fatal("rm of a missing path succeeded")
	}
	mustRun(t, "rm", "--config", cfg, "-f", "/gone")

	// The root, or an empty argument (an unset variable), is refused
	// before anything is removed; other arguments still go, and the
	// command exits 1.
	mustRun(t, "mkdir", "--config", cfg, "-p", "/keep/sub", "/x", "/y")
	for _, root := range []string{"/", "", "ferry:", "ferry:/", "//"} {
		if code, _, errs := run(t, "rm", "--config", cfg, "-r", root); code != 1 || !strings.Contains(errs, "ferry rm:") {
			t.Fatalf("rm -r %q: %d %q; want a refusal", root, code, errs)
		}
	}
	if code, _, errs := run(t, "rm", "--config", cfg, "-r", "/x", "/nosuch", "", "/y"); code != 1 || strings.Count(errs, "ferry rm:") != 2 {
		t.Fatalf("rm of good and bad arguments: %d %q; want exit 1 and two errors", code, errs)
	}
	if out := mustRun(t, "ls", "--config", cfg); out != "keep/\n" {
		t.Fatalf("after the refusals: %q; want only keep (with /x and /y removed)", out)
	}
	if out := mustRun(t, "ls", "--config", cfg, "/keep"); out != "sub/\n" {
		t.Fatalf("/keep after the refusals: %q", out)
	}
}

// rm -r with a data server down removes the tree: it asks no file's
// size, and the datafiles the server holds are left for fsck.
func TestRmTreeServerDown(t *testing.T) {
	cl := startCluster(t, 3)
	cfg := cl.ConfigPath
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	ctx := context.Background()
	mustRun(t, "mkdir", "--config", cfg, "-p", "/t/sub")
	for _, p := range []string{"/t/a", "/t/sub/b"} {
		f, err := c.Create(ctx, p, clientlib.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, 300000), 0); err != nil { // every server's strips
			t.Fatal(err)
		}
		f.Close()
	}
	victim := (c.MetaServer() + 1) % 3
	cl.Kill(victim)
	if code, _, errs := run(t, "rm", "--config", cfg, "-r", "/t"); code != 0 {
		t.Fatalf("rm -r with server %d down: exit %d\n%s", victim, code, errs)
	}
	if out := mustRun(t, "ls", "--config", cfg); out != "" {
		t.Fatalf("after rm -r with a server down: %q", out)
	}
}
