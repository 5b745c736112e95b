package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
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

// Mode 0 is a mode like any other: a directory made with -m 0 and a file
// copied from a source with no permission bits get none, not the
// defaults (a file its owner made unreadable stays so).
func TestModeZero(t *testing.T) {
	cl := startCluster(t, 1)
	cfg := cl.ConfigPath
	mustRun(t, "mkdir", "--config", cfg, "-m", "0", "/none")
	mustRun(t, "mkdir", "--config", cfg, "-p", "-m", "0", "/p0/q0")
	paths := []string{"/none", "/p0", "/p0/q0"}
	if os.Getuid() == 0 { // only root reads a source with no permission bits
		paths = append(paths, "/secret")
		copyModeZero(t, cfg)
	}
	c := cl.Mount(t, clientlib.Options{})
	for _, p := range paths {
		fi, err := c.Stat(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0 {
			t.Errorf("%s: mode %v, want no permission bits", p, fi.Mode())
		}
	}
}

func copyModeZero(t *testing.T, cfg string) {
	src := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(src, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "cp", "--config", cfg, src, "ferry:/secret")
}
