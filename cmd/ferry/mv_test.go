package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMv(t *testing.T) {
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("moved bytes"), 0o644)
	mustRun(t, "cp", "--config", cfg, src, "ferry:/a")
	mustRun(t, "mv", "--config", cfg, "ferry:/a", "ferry:/b")
	if out := mustRun(t, "cat", "--config", cfg, "/b"); out != "moved bytes" {
		t.Fatalf("cat after mv = %q", out)
	}
	if code, _, _ := run(t, "cat", "--config", cfg, "/a"); code != 1 {
		t.Fatal("old name still readable")
	}
	// A trailing slash names a directory: a file is not renamed to the
	// name without it.
	if code, _, errs := run(t, "mv", "--config", cfg, "/b", "/dir/"); code != 1 || !strings.Contains(errs, "not a directory") {
		t.Fatalf("mv of a file to /dir/: %d %q", code, errs)
	}
	if out := mustRun(t, "cat", "--config", cfg, "/b"); out != "moved bytes" {
		t.Fatalf("after the refused mv: %q", out)
	}
	if code, _, _ := run(t, "mv", "--config", cfg, "", "/c"); code != 1 {
		t.Fatal("mv of an empty name succeeded")
	}
	// Onto a directory that exists, as mv(1): into it, file or directory,
	// with or without the trailing slash.
	mustRun(t, "mkdir", "--config", cfg, "/dir", "/sub")
	mustRun(t, "mv", "--config", cfg, "/b", "/dir")
	mustRun(t, "mv", "--config", cfg, "/sub", "/dir/")
	if out := mustRun(t, "ls", "--config", cfg, "/dir"); out != "b\nsub/\n" {
		t.Fatalf("/dir after moving into it: %q", out)
	}
	if out := mustRun(t, "cat", "--config", cfg, "/dir/b"); out != "moved bytes" {
		t.Fatalf("/dir/b: %q", out)
	}
	if code, _, errs := run(t, "mv", "--config", cfg, "/dir", "/dir/sub"); code != 1 {
		t.Fatalf("mv of a directory into its own subdirectory: %d %q", code, errs)
	}
}
