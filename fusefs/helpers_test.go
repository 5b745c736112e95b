package fusefs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/fusefs"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// requireFUSE skips a test where the kernel offers no FUSE, unless
// FERRY_TEST_REQUIRE_FABRIC=1 says every fabric-like facility must be
// there, in which case it fails.
func requireFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("FERRY_TEST_REQUIRE_FABRIC") == "1" {
			t.Fatalf("FERRY_TEST_REQUIRE_FABRIC=1 but FUSE is missing: %v", err)
		}
		t.Skipf("no FUSE on this machine: %v", err)
	}
}

// requireTool is requireFUSE for a program the test runs.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("FERRY_TEST_REQUIRE_FABRIC") == "1" {
			t.Fatalf("FERRY_TEST_REQUIRE_FABRIC=1 but %s is missing (scripts/setup.sh installs it)", name)
		}
		t.Skipf("%s is not installed (scripts/setup.sh installs it)", name)
	}
}

// mounted is a real FUSE mount of a cluster, served in this process.
type mounted struct {
	dir string
	c   *clientlib.Client
	srv *fusefs.Server
}

// mount mounts the cluster on a fresh temporary directory; the mount is
// gone when the test ends, whatever happened, before the servers stop.
func mount(t *testing.T, cl *testcluster.Cluster, o fusefs.Options) *mounted {
	t.Helper()
	return mountWith(t, cl, clientlib.Options{Name: "fusefs-test"}, o)
}

// mountWith is mount with the client options co.
func mountWith(t *testing.T, cl *testcluster.Cluster, co clientlib.Options, o fusefs.Options) *mounted {
	t.Helper()
	requireFUSE(t)
	c := cl.Mount(t, co)
	dir := t.TempDir()
	srv, err := fusefs.Mount(c, dir, o)
	if err != nil {
		if errors.Is(err, unix.EPERM) && os.Getenv("FERRY_TEST_REQUIRE_FABRIC") != "1" {
			t.Skipf("not allowed to mount FUSE here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { unmount(t, srv) })
	return &mounted{dir: dir, c: c, srv: srv}
}

// unmount unmounts, retrying while a process the test started lets go,
// and detaches the mount if it stays busy so nothing outlives the test.
func unmount(t *testing.T, srv *fusefs.Server) {
	var err error
	for range 50 {
		if err = srv.Unmount(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("unmount %s: %v; detaching it", srv.Dir(), err)
	unix.Unmount(srv.Dir(), unix.MNT_DETACH)
}

// cluster starts 4 servers.
func cluster(t *testing.T) *testcluster.Cluster {
	return testcluster.Start(t, testcluster.Options{Servers: 4})
}

// sh runs a shell command line in dir and returns its output; it fails
// the test if the command fails or has not finished within a minute.
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	out, err := shErr(dir, script, time.Minute)
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return out
}

// shErr runs a shell command line in dir, killed after limit.
func shErr(dir, script string, limit time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	if os.Getenv("FUSEFS_TRACE") != "" {
		cmd.Args = append(cmd.Args[:1], append([]string{"-x"}, cmd.Args[1:]...)...)
		cmd.Env = append(os.Environ(), `PS4=+ $(date +%s.%N) `)
	}
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.New("still running after " + limit.String() + ": the mount hung")
	}
	return strings.TrimSpace(out.String()), err
}

// randomBytes returns n bytes that differ from run to run.
func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	f, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func unixMsync(b []byte) error { return unix.Msync(b, unix.MS_SYNC) }
