package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/config"
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

// SIGTERM stops the server cleanly: exit status 0, log says so.
func TestStopsOnSIGTERM(t *testing.T) {
	bin := testcluster.Binary(t, "ferryd")
	dir := t.TempDir()
	cfg, _ := config.Generate(testcluster.FreePorts(t, 1), dir, 1<<20)
	b, _ := cfg.Encode()
	p := filepath.Join(dir, "c.toml")
	os.WriteFile(p, b, 0o644)
	cmd := exec.Command(bin, "--config", p, "--id", "0")
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("ferryd did not stop on SIGTERM")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatalf("log:\n%s", logs.String())
	}
}
