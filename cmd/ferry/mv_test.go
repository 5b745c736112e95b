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
}
