package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/localcluster"
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

// Started with SIGHUP ignored (nohup), ferryd keeps it ignored: a hangup
// does not stop it, and SIGTERM still does, cleanly.
func TestNohupKeepsRunning(t *testing.T) {
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Skip("no nohup")
	}
	dir := t.TempDir()
	lc, err := localcluster.Create(dir, localcluster.Options{Servers: 1})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nohup, testcluster.Binary(t, "ferryd"), "--config", lc.ConfigPath, "--id", "0")
	cmd.Dir = dir // nohup.out, if any, goes here
	logf, err := os.Create(filepath.Join(dir, "ferryd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	answer := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := clientlib.Dial(ctx, lc.Config.Servers[0].Address, clientlib.Options{Provider: "none", Timeout: 2 * time.Second})
		if err == nil {
			c.Close()
		}
		return err
	}
	for start := time.Now(); answer() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatal("ferryd under nohup never answered")
		}
	}
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-done:
		done <- err
		t.Fatalf("ferryd under nohup exited on SIGHUP: %v", err)
	default:
	}
	if err := answer(); err != nil {
		t.Fatalf("ferryd under nohup after SIGHUP: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("ferryd after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("ferryd did not stop on SIGTERM")
	}
}

// A server that cannot listen takes back the storage it made: the next
// start finds it missing or empty again and says so (the warning that an
// unmounted storage file system depends on). Storage that held something
// keeps it.
func TestFailedListenTakesBackStorage(t *testing.T) {
	dir := t.TempDir()
	lc, err := localcluster.Create(dir, localcluster.Options{Servers: 1})
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", lc.Config.Servers[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	storage := lc.Config.Servers[0].Storage
	start := func() string {
		t.Helper()
		out, err := exec.Command(testcluster.Binary(t, "ferryd"), "--config", lc.ConfigPath, "--id", "0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "address already in use") {
			t.Fatalf("ferryd on a taken port: %v, want a failure naming the bind error\n%s", err, out)
		}
		return string(out)
	}
	const fresh = "storage was missing or empty"
	for i := range 2 {
		if out := start(); !strings.Contains(out, fresh) {
			t.Fatalf("start %d on missing storage did not warn:\n%s", i, out)
		}
		if _, err := os.Stat(storage); !os.IsNotExist(err) {
			t.Fatalf("start %d: storage %s left behind: %v", i, storage, err)
		}
	}
	if err := os.Mkdir(storage, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if out := start(); !strings.Contains(out, fresh) {
			t.Fatalf("start %d on empty storage did not warn:\n%s", i, out)
		}
		if names, err := os.ReadDir(storage); err != nil || len(names) != 0 {
			t.Fatalf("start %d: empty storage now holds %v (%v)", i, names, err)
		}
	}
	kept := filepath.Join(storage, "kept")
	if err := os.WriteFile(kept, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := start(); strings.Contains(out, fresh) {
		t.Fatalf("start on storage with a file warned it was empty:\n%s", out)
	}
	if b, err := os.ReadFile(kept); err != nil || string(b) != "x" {
		t.Fatalf("a file in the storage after a failed start: %q, %v", b, err)
	}
}
