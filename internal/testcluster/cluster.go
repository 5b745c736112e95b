// Package testcluster adapts internal/localcluster to tests: real ferryd
// processes on loopback, built from this tree, that fail the test when
// they cannot start and are stopped when the test ends.
package testcluster

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/ferry-hpc/ferry/internal/localcluster"
)

var (
	buildMu  sync.Mutex
	built    = map[string]error{}
	buildDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "ferry-bin-") })
)

// Main runs a package's tests (call it from TestMain: os.Exit(Main(m)))
// and then removes the programs Binary built, which outlive any one test.
func Main(m *testing.M) int {
	code := m.Run()
	RemoveBinaries()
	return code
}

// RemoveBinaries removes the directory of the programs Binary built.
func RemoveBinaries() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if dir, err := buildDir(); err == nil {
		os.RemoveAll(dir)
	}
}

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary builds (once per test process) and returns the path of a command
// under cmd/, e.g. "ferryd". All land in one directory, so a program finds
// the others beside itself.
func Binary(t testing.TB, name string) string {
	t.Helper()
	dir, err := buildDir()
	if err != nil {
		t.Fatal(err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	err, done := built[name]
	if !done {
		args := []string{"build", "-o", dir + "/"}
		if name == "ferryd" {
			args = append(args, "-buildmode=pie") // as scripts/build.sh builds it
		}
		cmd := exec.Command("go", append(args, "./cmd/"+name)...)
		cmd.Dir = RepoRoot()
		if out, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, e, out)
		}
		built[name] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// Cluster is N ferryd processes sharing one config.
type Cluster struct {
	*localcluster.Cluster
	t testing.TB
}

// Options shape a cluster.
type Options struct {
	Servers   int                  // default 4
	StripSize int64                // default 64 KiB
	Edit      func(*config.Config) // adjust the config before it is written
	// Dir holds the config, sockets and storage (default: a test temp
	// dir, which only the test's user can enter).
	Dir string
}

// FreePorts returns n loopback addresses with ports free right now.
func FreePorts(t testing.TB, n int) []string {
	t.Helper()
	addrs, err := localcluster.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// Start launches the servers and waits until each answers; they are
// stopped when the test ends.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.StripSize == 0 {
		o.StripSize = 64 << 10
	}
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	lc, err := localcluster.Create(dir, localcluster.Options{Servers: o.Servers, StripSize: o.StripSize, Timeout: 10 * time.Second, Edit: o.Edit})
	if err != nil {
		t.Fatal(err)
	}
	lc.Ferryd = Binary(t, "ferryd")
	c := &Cluster{Cluster: lc, t: t}
	t.Cleanup(func() {
		// A server that fails on SIGTERM is a bug whatever the test; one
		// slower than the grace period is likely just a loaded machine.
		errs := lc.StopAll()
		if j, ok := errs.(interface{ Unwrap() []error }); ok {
			for _, err := range j.Unwrap() {
				if !errors.Is(err, localcluster.ErrKilled) {
					t.Error(err)
				}
			}
		} else if errs != nil && !errors.Is(errs, localcluster.ErrKilled) {
			t.Error(errs)
		}
	})
	c.StartServers()
	return c
}

// StartServers starts every server that is not running, all at once, and
// waits until each answers.
func (c *Cluster) StartServers() {
	c.t.Helper()
	if err := c.Cluster.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
}

// StartServer (re)starts server i and waits until it answers.
func (c *Cluster) StartServer(i int) {
	c.t.Helper()
	if err := c.Cluster.StartServer(context.Background(), i); err != nil {
		c.t.Fatal(err)
	}
}

// Kill sends SIGKILL to server i and reaps it.
func (c *Cluster) Kill(i int) { c.check(c.Cluster.Kill(i)) }

// Stop sends SIGTERM to server i and waits for it to exit.
func (c *Cluster) Stop(i int) { c.check(c.Cluster.Stop(i)) }

// StopAll stops every server still running.
func (c *Cluster) StopAll() { c.check(c.Cluster.StopAll()) }

// Signal sends sig to server i without waiting (SIGSTOP, SIGCONT); after
// SIGSTOP the server has stopped when Signal returns.
func (c *Cluster) Signal(i int, sig syscall.Signal) { c.check(c.Cluster.Signal(i, sig)) }

func (c *Cluster) check(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Error(err)
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
