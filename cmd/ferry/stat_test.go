package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStat(t *testing.T) {
	cl := startCluster(t, 4)
	cfg := cl.ConfigPath
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, make([]byte, 200000), 0o644)
	mustRun(t, "cp", "--config", cfg, "--strip-size", "65536", "--count", "3", src, "ferry:/f")
	out := mustRun(t, "stat", "--config", cfg, "ferry:/f")
	for _, want := range []string{"size: 200000 (195.3 KiB)", "strip 64 KiB over 3 of 4 servers", "data: "} {
		if !strings.Contains(out, want) {
			t.Fatalf("stat output lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "stat", "--config", cfg, "--server", "0")
	if !strings.Contains(out, "op.") {
		t.Fatalf("server stats:\n%s", out)
	}
	if code, _, _ := run(t, "stat", "--config", cfg); code != 2 {
		t.Fatalf("stat without args: exit %d", code)
	}
}
