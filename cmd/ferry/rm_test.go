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

	// The root, or an empty argument (an unset variable), is refused
	// before anything is removed; other arguments still go, and the
	// command exits 1.
	mustRun(t, "mkdir", "--config", cfg, "-p", "/keep/sub", "/x", "/y")
	for _, root := range []string{"/", "", "ferry:", "ferry:/", "//"} {
		if code, _, errs := run(t, "rm", "--config", cfg, "-r", root); code != 1 || !strings.Contains(errs, "ferry rm:") {
			t.Fatalf("rm -r %q: %d %q; want a refusal", root, code, errs)
		}
	}
	if code, _, errs := run(t, "rm", "--config", cfg, "-r", "/x", "/nosuch", "", "/y"); code != 1 || strings.Count(errs, "ferry rm:") != 2 {
		t.Fatalf("rm of good and bad arguments: %d %q; want exit 1 and two errors", code, errs)
	}
	if out := mustRun(t, "ls", "--config", cfg); out != "keep/\n" {
		t.Fatalf("after the refusals: %q; want only keep (with /x and /y removed)", out)
	}
	if out := mustRun(t, "ls", "--config", cfg, "/keep"); out != "sub/\n" {
		t.Fatalf("/keep after the refusals: %q", out)
	}
}
