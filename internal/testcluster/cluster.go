// Package testcluster starts real ferryd processes on loopback for tests
// and benchmarks, and stops every one of them when the test ends.
package testcluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/ports"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary builds (once per test process) and returns the path of a command
// under cmd/, e.g. "ferryd".
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ferry-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./cmd/ferryd", "./cmd/ferry")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// Cluster is N ferryd processes sharing one config.
type Cluster struct {
	t          testing.TB
	Dir        string
	ConfigPath string
	Config     *config.Config
	mu         sync.Mutex
	procs      []*exec.Cmd
}

// Options shape a cluster.
type Options struct {
	Servers   int
	StripSize int64
	Edit      func(*config.Config) // adjust the config before it is written
}

// FreePorts returns n loopback addresses with ports free right now.
func FreePorts(t testing.TB, n int) []string {
	addrs, err := ports.Free(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// Start launches the servers and waits until each answers.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Servers == 0 {
		o.Servers = 4
	}
	if o.StripSize == 0 {
		o.StripSize = 64 << 10
	}
	dir := t.TempDir()
	cfg, err := config.Generate(FreePorts(t, o.Servers), dir, o.StripSize)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout.Duration = 10 * time.Second
	if o.Edit != nil {
		o.Edit(cfg)
	}
	b, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, Dir: dir, ConfigPath: filepath.Join(dir, "ferry.toml"), Config: cfg, procs: make([]*exec.Cmd, o.Servers)}
	if err := os.WriteFile(c.ConfigPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.StopAll)
	c.StartServers()
	return c
}

// StartServers starts every server that is not running, all at once, and
// waits until each answers.
func (c *Cluster) StartServers() {
	c.t.Helper()
	var todo []int
	for i := range c.procs {
		c.mu.Lock()
		running := c.procs[i] != nil
		c.mu.Unlock()
		if !running {
			c.spawn(i)
			todo = append(todo, i)
		}
	}
	for _, i := range todo {
		c.waitUp(i)
	}
}

// StartServer (re)starts server i and waits until it answers.
func (c *Cluster) StartServer(i int) {
	c.t.Helper()
	c.spawn(i)
	c.waitUp(i)
}

func (c *Cluster) spawn(i int) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.Dir, fmt.Sprintf("server%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(Binary(c.t, "ferryd"), "--config", c.ConfigPath, "--id", fmt.Sprint(i))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	logf.Close()
	c.mu.Lock()
	c.procs[i] = cmd
	c.mu.Unlock()
}

func (c *Cluster) waitUp(i int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", c.Config.Servers[i].Address, time.Second)
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.Dir, fmt.Sprintf("server%d.log", i)))
			c.t.Fatalf("server %d did not come up: %v\n%s", i, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL to server i and reaps it.
func (c *Cluster) Kill(i int) { c.signal(i, syscall.SIGKILL) }

// Stop sends SIGTERM to server i and waits for it to exit.
func (c *Cluster) Stop(i int) { c.signal(i, syscall.SIGTERM) }

func (c *Cluster) signal(i int, sig syscall.Signal) {
	c.mu.Lock()
	cmd := c.procs[i]
	c.procs[i] = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	// libfabric's shm provider leaves a /dev/shm/<pid>:<uid>:<n> file per
	// endpoint when its process dies without closing it.
	if leaked, _ := filepath.Glob(fmt.Sprintf("/dev/shm/%d:*", cmd.Process.Pid)); len(leaked) > 0 {
		for _, f := range leaked {
			os.Remove(f)
		}
	}
}

// StopAll stops every server still running.
func (c *Cluster) StopAll() {
	for i := range c.procs {
		c.Stop(i)
	}
}

// Mount mounts the cluster; the client is closed when the test ends.
func (c *Cluster) Mount(t testing.TB, o clientlib.Options) *clientlib.Client {
	t.Helper()
	cl, err := clientlib.Mount(context.Background(), c.ConfigPath, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// Signal sends sig to server i without waiting (SIGSTOP, SIGCONT).
func (c *Cluster) Signal(i int, sig syscall.Signal) {
	c.mu.Lock()
	cmd := c.procs[i]
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	if sig != syscall.SIGSTOP {
		return
	}
	// kill(2) returns before the target has stopped: wait until it has,
	// or a request sent right after may still be served.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", cmd.Process.Pid))
		stopped := len(tasks) > 0
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			i := bytes.LastIndexByte(b, ')')
			if err == nil && (i < 0 || i+2 >= len(b) || b[i+2] != 'T') {
				stopped = false
			}
		}
		if stopped {
			return
		}
	}
}
