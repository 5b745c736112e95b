package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// TestLocalUpDown runs the real binary: up starts detached servers, a
// second up refuses, down stops them, and files survive a down/up cycle.
func TestLocalUpDown(t *testing.T) {
	bin := testcluster.Binary(t, "ferry")
	dir := filepath.Join(t.TempDir(), "local")
	ferry := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { ferry("local", "down", "--dir", dir) })
	if out, err := ferry("local", "up", "--servers", "3", "--dir", dir); err != nil || !strings.Contains(out, "3 Ferry servers up") {
		t.Fatalf("up: %v\n%s", err, out)
	}
	if out, err := ferry("local", "up", "--servers", "3", "--dir", dir); err == nil || !strings.Contains(out, "already running") {
		t.Fatalf("second up: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "ferry.toml")
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, []byte("survives restarts"), 0o644)
	if out, err := ferry("cp", "--config", cfg, src, "ferry:/s"); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if out, err := ferry("local", "down", "--dir", dir); err != nil || !strings.Contains(out, "stopped 3") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if out, err := ferry("ping", "--config", cfg); err == nil {
		t.Fatalf("ping after down succeeded:\n%s", out)
	}
	if out, err := ferry("local", "up", "--servers", "3", "--dir", dir); err != nil {
		t.Fatalf("up again: %v\n%s", err, out)
	}
	if out, err := ferry("cat", "--config", cfg, "ferry:/s"); err != nil || out != "survives restarts" {
		t.Fatalf("cat after restart: %v %q", err, out)
	}
}
