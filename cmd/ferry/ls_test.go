package main

import (
	"strings"
	"testing"
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
