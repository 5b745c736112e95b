package main

import (
	"os"
	"path/filepath"
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
}
