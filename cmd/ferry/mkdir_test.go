package main

import (
	"strings"
	"testing"
)

func TestMkdir(t *testing.T) {
	cl := startCluster(t, 1)
	cfg := cl.ConfigPath
	mustRun(t, "mkdir", "--config", cfg, "/a")
	if code, _, errs := run(t, "mkdir", "--config", cfg, "/a"); code != 1 || !strings.Contains(errs, "exists") {
		t.Fatalf("mkdir existing: %d %q", code, errs)
	}
	mustRun(t, "mkdir", "--config", cfg, "-p", "/a", "/a/b/c")
	if code, _, errs := run(t, "mkdir", "--config", cfg, "/x/../y"); code != 1 || !strings.Contains(errs, "invalid argument") {
		t.Fatalf("mkdir with ..: %d %q", code, errs)
	}
}
