package main

import (
	"strings"
	"testing"
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
}
