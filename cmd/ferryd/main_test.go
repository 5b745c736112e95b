package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

func TestFlagsRequired(t *testing.T) {
	if err := run(nil); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("run without flags: %v", err)
	}
	if err := run([]string{"--config", "/nonexistent.toml", "--id", "0"}); err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("missing config: %v", err)
	}
}

// --help exits 0 and lists --log-level; a bad level is refused.
func TestHelpAndLogLevel(t *testing.T) {
	bin := testcluster.Binary(t, "ferryd")
	for _, h := range []string{"--help", "-h"} {
		out, err := exec.Command(bin, h).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--log-level") {
			t.Fatalf("ferryd %s: %v\n%s", h, err, out)
		}
	}
	out, err := exec.Command(bin, "-config", "/nonexistent.toml", "-id", "0", "--log-level", "loud").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--log-level") {
		t.Fatalf("bad level: %v\n%s", err, out)
	}
}

// SIGTERM stops the server cleanly: exit status 0, log says so; so do
// SIGINT and SIGHUP (a terminal that went away). (And a server not
// configured for metrics serves none.)
func TestStopsOnSIGTERM(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cl := testcluster.Start(t, testcluster.Options{Servers: 1}) // returns once it answers
			cl.StopGrace = time.Minute                                  // a loaded machine is slow, not a hang
			if err := cl.Cluster.StopWith(0, sig); err != nil {
				t.Fatal(err)
			}
			logs, err := os.ReadFile(cl.LogPath(0))
			if err != nil || !strings.Contains(string(logs), "shutting down") || strings.Contains(string(logs), "metrics") {
				t.Fatalf("log (%v):\n%s", err, logs)
			}
		})
	}
}
