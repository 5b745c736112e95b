package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCat(t *testing.T) {
	cl := startCluster(t, 3)
	cfg := cl.ConfigPath
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("one "), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("two"), 0o644)
	mustRun(t, "cp", "--config", cfg, filepath.Join(dir, "a"), "ferry:/a")
	mustRun(t, "cp", "--config", cfg, filepath.Join(dir, "b"), "ferry:/b")
	if out := mustRun(t, "cat", "--config", cfg, "/a", "ferry:/b"); out != "one two" {
		t.Fatalf("cat = %q", out)
	}
}
