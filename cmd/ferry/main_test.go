package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/internal/buildinfo"
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
	// Typos get suggestions, not only prefixes.
	for typo, want := range map[string]string{"lss": "did you mean ls?", "cpp": "cp", "stauts": "status"} {
		if code, _, errs := run(t, typo); code != 2 || !strings.Contains(errs, want) {
			t.Errorf("ferry %s: %d %q, want a suggestion with %q", typo, code, errs, want)
		}
	}
	if code, out, _ := run(t); code != 2 || !strings.Contains(out, "Available Commands") {
		t.Fatalf("no command: %d %q", code, out)
	}
	// Every command and subcommand answers --help and -h with exit 0 (but
	// ls, whose -h is human-readable sizes, as in ls(1)).
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			path := strings.Fields(strings.TrimPrefix(sub.CommandPath(), "ferry "))
			for _, h := range []string{"--help", "-h"} {
				if h == "-h" && sub.Name() == "ls" {
					continue
				}
				if code, out, errs := run(t, append(path, h)...); code != 0 || !strings.Contains(out, "Usage:") {
					t.Errorf("ferry %s %s exits %d\n%s%s", strings.Join(path, " "), h, code, out, errs)
				}
			}
			walk(sub)
		}
	}
	walk(newRoot(&env{stdout: io.Discard, stderr: io.Discard}))
}

func TestVersionAndCompletion(t *testing.T) {
	if out := mustRun(t, "--version"); !strings.HasPrefix(out, "ferry ") || !strings.Contains(out, "protocol") {
		t.Fatalf("--version: %q", out)
	}
	if out := mustRun(t, "completion", "bash"); !strings.Contains(out, "__start_ferry") {
		t.Fatalf("completion bash: %.200q", out)
	}
}

// Internal flags work but stay out of help.
func TestHiddenFlags(t *testing.T) {
	out := mustRun(t, "bench", "--help")
	for _, f := range []string{"client-worker", "worker-spec"} {
		if strings.Contains(out, f) {
			t.Errorf("bench help shows %s:\n%s", f, out)
		}
	}
	if out := mustRun(t, "mount", "--help"); strings.Contains(out, "ready-fd") {
		t.Errorf("mount help shows ready-fd:\n%s", out)
	}
}

// Help must not take backquoted words for argument names.
func TestHelpNoCommandAsArgName(t *testing.T) {
	for _, c := range [][]string{{"local", "down"}, {"genconfig"}, {"cp"}} {
		out := mustRun(t, append(c, "--help")...)
		if strings.Contains(out, "ferry local up\n") || strings.Contains(out, "--dir ferry") {
			t.Errorf("%v help:\n%s", c, out)
		}
	}
}

// The Go flag package's spellings keep working: -config (one dash, long
// name), --p (two dashes, one letter), flags after the arguments, and
// sizes with units.
func TestFlagSpellings(t *testing.T) {
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	mustRun(t, "mkdir", "-config", cfg, "--p", "/a/b")
	mustRun(t, "mkdir", "/c", "--config="+cfg)
	if out := mustRun(t, "ls", "/", "-config="+cfg); out != "a/\nc/\n" {
		t.Fatalf("ls: %q", out)
	}
	if out := mustRun(t, "ls", "/", "-l", "--config", cfg); !strings.Contains(out, "a/") || !strings.Contains(out, "drwx") {
		t.Fatalf("ls / -l: %q", out)
	}
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, []byte("abc"), 0o644)
	if out := mustRun(t, "cp", src, "ferry:/a/x", "--config", cfg, "--stats", "--strip-size", "64K"); !strings.HasPrefix(out, "copied 3 B") {
		t.Fatalf("cp --stats after the arguments: %q", out)
	}
	if out := mustRun(t, "stat", "ferry:/a/x", "--config", cfg); !strings.Contains(out, "strip 64 KiB") {
		t.Fatalf("stat: %q", out)
	}
	if code, _, errs := run(t, "cp", src, "ferry:/y", "--config", cfg, "--strip-size", "1Q"); code != 2 || !strings.Contains(errs, "bad size") {
		t.Fatalf("bad size: %d %q", code, errs)
	}
	// A library error is printed once, prefixed with the command, not "ferry:" again.
	code, _, errs := run(t, "mkdir", "/c", "--config", cfg)
	if code != 1 || strings.Count(errs, "ferry") != 1 || !strings.HasPrefix(errs, "ferry mkdir: ") {
		t.Fatalf("mkdir twice: %d %q", code, errs)
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

func TestVersion(t *testing.T) {
	out := mustRun(t, "--version")
	if !strings.HasPrefix(out, "ferry "+buildinfo.Full()+" (protocol ") {
		t.Fatalf("--version: %q", out)
	}
}
