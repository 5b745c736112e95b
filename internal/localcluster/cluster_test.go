package localcluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/localcluster"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/internal/testenv"
)

var ctx = context.Background()

func answers(addr string) error {
	c, err := clientlib.Dial(ctx, addr, clientlib.Options{Provider: "none", Timeout: 2 * time.Second})
	if err == nil {
		c.Close()
	}
	return err
}

func shmFiles(pid int) []string {
	m, _ := filepath.Glob(fmt.Sprintf("/dev/shm/%d:*", pid))
	return m
}

// Servers started as children answer; a killed one leaves no /dev/shm
// file behind; StopAll stops the rest and Start brings them all back.
func TestStartKillStop(t *testing.T) {
	c, err := localcluster.Create(t.TempDir(), localcluster.Options{Servers: 2, StripSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c.Ferryd = testcluster.Binary(t, "ferryd")
	t.Cleanup(func() { c.StopAll() })
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pids := c.Pids()
	if len(pids) != 2 {
		t.Fatalf("pids %v", pids)
	}
	for _, s := range c.Config.Servers {
		if err := answers(s.Address); err != nil {
			t.Fatalf("server %d: %v", s.ID, err)
		}
	}
	hadShm := len(shmFiles(pids[1])) > 0
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pids[1], 0) == nil {
		t.Fatalf("pid %d still exists after Kill", pids[1])
	}
	if left := shmFiles(pids[1]); len(left) > 0 {
		t.Fatalf("killed server left %v", left)
	}
	if err := answers(c.Config.Servers[1].Address); err == nil {
		t.Fatal("killed server answers")
	}
	// Start restarts only what is not running.
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if p := c.Pids(); p[0] != pids[0] || p[1] == pids[1] || len(p) != 2 {
		t.Fatalf("after restart pids %v, before %v", p, pids)
	}
	if err := c.StopAll(); err != nil {
		t.Fatal(err)
	}
	if p := c.Pids(); len(p) != 0 {
		t.Fatalf("running after StopAll: %v", p)
	}
	for _, s := range c.Config.Servers {
		if answers(s.Address) == nil {
			t.Fatalf("server %d answers after StopAll", s.ID)
		}
	}
	if !hadShm {
		testenv.SkipOrFail(t, "ferryd opened no shm endpoint: /dev/shm cleanup not exercised")
	}
}

// Detached servers are found again from their pid files, and Down stops
// them, removes the pid files and keeps the data.
func TestDetachedDown(t *testing.T) {
	dir := t.TempDir()
	c, err := localcluster.Create(dir, localcluster.Options{Servers: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Ferryd = testcluster.Binary(t, "ferryd")
	c.Detach = true
	t.Cleanup(func() { localcluster.Down(dir) })
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	running := localcluster.Running(dir)
	if len(running) != 2 {
		t.Fatalf("Running: %v", running)
	}
	again, err := localcluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := again.Pids(); len(p) != 2 || p[0] != running[0] || p[1] != running[1] {
		t.Fatalf("Load adopted %v, want %v", p, running)
	}
	n, err := localcluster.Down(dir)
	if err != nil || n != 2 {
		t.Fatalf("Down: %d, %v", n, err)
	}
	for _, pid := range running {
		if syscall.Kill(pid, 0) != nil {
			continue
		}
		// Exited but not yet reaped (Z, or X while init reaps it), or
		// reaped since the kill: gone. Init reaps orphans when it gets
		// to them, which on some machines is seconds later.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(b), ')'); i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X') {
			t.Fatalf("pid %d still runs after Down: %s", pid, b)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.pid")); len(m) != 0 {
		t.Fatalf("pid files left: %v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "server0")); err != nil {
		t.Fatalf("storage gone: %v", err)
	}
	if n, err := localcluster.Down(dir); n != 0 || err != nil {
		t.Fatalf("second Down: %d, %v", n, err)
	}
}

// A server that cannot start (its port is taken) fails Start as soon as it
// exits, with its log in the error, and Start leaves nothing running.
func TestStartFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := localcluster.Create(t.TempDir(), localcluster.Options{Servers: 2, Edit: func(cfg *config.Config) {
		cfg.Servers[1].Address = ln.Addr().String()
	}})
	if err != nil {
		t.Fatal(err)
	}
	c.Ferryd = testcluster.Binary(t, "ferryd")
	c.WaitLimit = 10 * time.Minute // far beyond the test's patience: Start must notice the exit
	t.Cleanup(func() { c.StopAll() })
	err = c.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "server 1") || !strings.Contains(err.Error(), "exited before answering") ||
		!strings.Contains(err.Error(), "server1.log") {
		t.Fatalf("Start: %v", err)
	}
	if p := c.Pids(); len(p) != 0 {
		t.Fatalf("running after a failed Start: %v", p)
	}
}
