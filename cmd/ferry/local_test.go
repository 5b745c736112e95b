package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/localcluster"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// TestLocalUpDown runs the real binary: up starts detached servers, a
// second up refuses, down stops them, and files survive a down/up cycle.
func TestLocalUpDown(t *testing.T) {
	bin := testcluster.Binary(t, "ferry")
	testcluster.Binary(t, "ferryd") // found beside ferry
	dir := filepath.Join(t.TempDir(), "local")
	ferry := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { ferry("local", "down", "--dir", dir) })
	if out, err := ferry("local", "up", "--servers", "3", "--dir", dir); err != nil || !strings.Contains(out, "3 Ferry servers up") {
		t.Fatalf("up: %v\n%s", err, out)
	}
	if out, err := ferry("local", "up", "--servers", "3", "--dir", dir); err != nil || !strings.Contains(out, "all 3 servers") || !strings.Contains(out, "already running") {
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
	// A directory with no file system in it (a typo): nothing to stop,
	// exit 0, but said.
	typo := dir + "-typo"
	if code, out, errs := run(t, "local", "down", "--dir", typo); code != 0 || out != "stopped 0 servers\n" || !strings.Contains(errs, "holds no local file system") {
		t.Errorf("down --dir %s: exit %d %q %q", typo, code, out, errs)
	}
}

// gone waits until process pid no longer exists (or is a zombie).
func gone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return
		}
	}
	t.Fatalf("pid %d still there after 20s", pid)
}

// handStart starts ferryd the way an operator would, outside `ferry
// local`, and returns a channel closed when it exits.
func handStart(t *testing.T, cwd, cfg string, id int) (*exec.Cmd, chan struct{}) {
	t.Helper()
	cmd := exec.Command(testcluster.Binary(t, "ferryd"), "--config", cfg, "--id", strconv.Itoa(id))
	cmd.Dir = cwd
	logf, err := os.Create(filepath.Join(t.TempDir(), "hand.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return cmd, done
}

// `local up` starts only the servers that are down, `local restart --id`
// restarts one, `local down` stops a server started by hand too, and a
// server that cannot bind its port makes `local up` fail.
func TestLocalRestartOneServer(t *testing.T) {
	bin := testcluster.Binary(t, "ferry")
	testcluster.Binary(t, "ferryd")
	parent := t.TempDir()
	dir := filepath.Join(parent, "local")
	ferry := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { ferry("local", "down", "--dir", dir) })
	if out, err := ferry("local", "up", "--servers", "3", "--dir", dir); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "ferry.toml")
	pids := localcluster.Running(dir)
	if len(pids) != 3 {
		t.Fatalf("running after up: %v", pids)
	}

	syscall.Kill(pids[1], syscall.SIGKILL)
	gone(t, pids[1])
	if out, err := ferry("local", "up", "--dir", dir); err != nil || !strings.Contains(out, "started servers [1]") {
		t.Fatalf("up with server 1 down: %v\n%s", err, out)
	}
	if now := localcluster.Running(dir); len(now) != 3 || now[0] != pids[0] || now[2] != pids[2] {
		t.Fatalf("up with server 1 down touched the others: before %v, after %v", pids, now)
	}

	if out, err := ferry("local", "restart", "--id", "2", "--dir", dir); err != nil || !strings.Contains(out, "server 2 restarted") {
		t.Fatalf("restart --id 2: %v\n%s", err, out)
	}
	gone(t, pids[2])
	if out, err := ferry("ping", "--config", cfg); err != nil {
		t.Fatalf("ping after restart: %v\n%s", err, out)
	}

	// A server restarted by hand, with a relative config path.
	now := localcluster.Running(dir)
	syscall.Kill(now[0], syscall.SIGKILL)
	gone(t, now[0])
	hand, handDone := handStart(t, parent, "local/ferry.toml", 0)
	if got := localcluster.Running(dir)[0]; got != hand.Process.Pid {
		t.Fatalf("Running says server 0 is pid %d, the hand-started one is %d", got, hand.Process.Pid)
	}
	if out, err := ferry("local", "down", "--dir", dir); err != nil || !strings.Contains(out, "stopped 3") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	select {
	case <-handDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the hand-started server survived `local down`")
	}

	// Another file system's server holds server 1's port: up must fail,
	// name the cause, and leave none of dir's servers running.
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(parent, "other")
	os.MkdirAll(other, 0o755)
	ocfg := filepath.Join(other, "ferry.toml")
	os.WriteFile(ocfg, bytes.ReplaceAll(b, []byte(dir), []byte(other)), 0o644)
	if key, err := os.ReadFile(filepath.Join(dir, localcluster.KeyName)); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(filepath.Join(other, localcluster.KeyName), key, 0o600); err != nil {
		t.Fatal(err)
	}
	handStart(t, other, ocfg, 1)
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if nc, err := net.Dial("tcp", c.Servers[1].Address); err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other server never listened")
		}
	}
	out, err := ferry("local", "up", "--dir", dir)
	if err == nil || !strings.Contains(out, "address already in use") {
		t.Fatalf("up with server 1's port taken: %v, want a failure naming the bind error\n%s", err, out)
	}
	if r := localcluster.Running(dir); len(r) != 0 {
		t.Fatalf("servers of a failed up left running: %v", r)
	}
}
