package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// run runs the CLI in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(&env{stdout: &out, stderr: &errb, stdin: strings.NewReader("")}, args)
	return code, out.String(), errb.String()
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("ferry %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func startCluster(t *testing.T, n int) *testcluster.Cluster {
	return testcluster.Start(t, testcluster.Options{Servers: n})
}

func TestUsage(t *testing.T) {
	code, out, _ := run(t, "--help")
	if code != 0 || !strings.Contains(out, "genconfig") || !strings.Contains(out, "cp") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, _, errs := run(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	for name := range commands {
		if code, _, _ := run(t, name, "--help"); code != 0 {
			t.Errorf("ferry %s --help exits %d", name, code)
		}
	}
}

func TestNoConfig(t *testing.T) {
	t.Setenv("FERRY_CONFIG", "")
	t.Chdir(t.TempDir())
	code, _, errs := run(t, "ls", "/")
	if code != 1 || !strings.Contains(errs, "no config") {
		t.Fatalf("ls without config: %d %q", code, errs)
	}
}
