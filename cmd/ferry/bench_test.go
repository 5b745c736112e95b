package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchFlags(t *testing.T) {
	if code, _, errs := run(t, "bench", "--quick", "--full"); code != 2 || !strings.Contains(errs, "exclude") {
		t.Fatalf("--quick --full: %d %q", code, errs)
	}
	if code, _, errs := run(t, "bench", "--sizes", "1X"); code != 2 || !strings.Contains(errs, "bad size") {
		t.Fatalf("bad size: %d %q", code, errs)
	}
	if code, _, errs := run(t, "bench", "--clients", "0"); code != 2 || !strings.Contains(errs, "bad count") {
		t.Fatalf("bad count: %d %q", code, errs)
	}
	if code, _, errs := run(t, "bench", "--strategies", "teleport", "--out", t.TempDir()); code != 1 || !strings.Contains(errs, "unknown strategy") {
		t.Fatalf("bad strategy: %d %q", code, errs)
	}
}

// TestBenchAgainstConfig runs a tiny sockets-only sweep against running
// servers (--config) and checks the results set and the headline.
func TestBenchAgainstConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	c := startCluster(t, 2)
	out := filepath.Join(t.TempDir(), "res")
	stdout := mustRun(t, "bench", "--config", c.ConfigPath, "--strategies", "sockets", "--sizes", "1M", "--servers", "2",
		"--file-size", "4M", "--volume", "2M", "--reps", "1", "--no-baselines", "--no-regcost", "--no-plots", "--out", out)
	if !strings.Contains(stdout, "| sockets (no fabric) |") || !strings.Contains(stdout, out) {
		t.Fatalf("headline missing:\n%s", stdout)
	}
	for _, f := range []string{"results.csv", "results.md"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// The ferry CLI does not link the plotting library: plots are ferry-plot's.
func TestNoPlottingLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ferry-hpc/ferry/cmd/ferry").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "gonum.org/") {
			t.Errorf("ferry imports %s", pkg)
		}
	}
}
