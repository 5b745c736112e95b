package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// requireFUSE skips where the kernel offers no FUSE, or fails when
// FERRY_TEST_REQUIRE_FABRIC=1 asks for every facility.
func requireFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("FERRY_TEST_REQUIRE_FABRIC") == "1" {
			t.Fatalf("FERRY_TEST_REQUIRE_FABRIC=1 but FUSE is missing: %v", err)
		}
		t.Skipf("no FUSE on this machine: %v", err)
	}
}

func isMounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds; the limit only bounds a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

// cleanupMount makes sure nothing the test mounted outlives it.
func cleanupMount(t *testing.T, dir string) {
	t.Cleanup(func() {
		if isMounted(dir) {
			t.Errorf("%s still mounted at the end; detaching it", dir)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// mountDaemon runs ferry mount --daemon with args and returns the pid of
// the mount's process, which it prints.
func mountDaemon(t *testing.T, bin string, args ...string) int {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"mount", "--daemon"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ferry mount --daemon: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`pid (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no pid in %q", out)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

// ferry mount --daemon returns once the mount is up; ferry umount ends it
// and its process.
func TestMountDaemon(t *testing.T) {
	requireFUSE(t)
	cl := startCluster(t, 4)
	bin := testcluster.Binary(t, "ferry")
	dir := t.TempDir()
	cleanupMount(t, dir)
	logf := filepath.Join(t.TempDir(), "mount.log")
	pid := mountDaemon(t, bin, "--config", cl.ConfigPath, "--log", logf, "--attr-timeout", "2s", dir)
	t.Cleanup(func() {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !isMounted(dir) {
		t.Fatalf("ferry mount --daemon returned, %s is not mounted", dir)
	}
	if out, err := exec.Command(bin, "mount", "--config", cl.ConfigPath, "--daemon", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "already a ferry mount") {
		t.Errorf("a second ferry mount on %s: %v %q, want it refused", dir, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("through the mount"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mustRun(t, "cat", "--config", cl.ConfigPath, "/x"); got != "through the mount" {
		t.Fatalf("ferry cat of a file written through the mount: %q", got)
	}
	// A file copied between its Ferry name and its name on the mount is
	// refused, both ways, not emptied; another file copies.
	for _, args := range [][]string{{"ferry:/x", filepath.Join(dir, "x")}, {filepath.Join(dir, "x"), "ferry:/x"}} {
		code, _, errs := run(t, append([]string{"cp", "--config", cl.ConfigPath}, args...)...)
		if code != 1 || !strings.Contains(errs, "same file") {
			t.Errorf("cp %v: exit %d %q, want a same-file error", args, code, errs)
		}
	}
	mustRun(t, "cp", "--config", cl.ConfigPath, "ferry:/x", filepath.Join(dir, "y"))
	for _, p := range []string{"/x", "/y"} {
		if got := mustRun(t, "cat", "--config", cl.ConfigPath, p); got != "through the mount" {
			t.Fatalf("%s after the copies: %q", p, got)
		}
	}
	mustRun(t, "umount", dir)
	waitFor(t, "the mount process to exit", func() bool { return !alive(pid) && !isMounted(dir) })
	if log, _ := os.ReadFile(logf); !bytes.Contains(log, []byte("unmounted")) {
		t.Fatalf("mount log lacks the unmount:\n%s", log)
	}
}

// ferry umount unmounts a mount whose process died, which cannot be
// looked at any more ("transport endpoint is not connected").
func TestUmountDeadMount(t *testing.T) {
	requireFUSE(t)
	cl := startCluster(t, 1)
	bin := testcluster.Binary(t, "ferry")
	dir := t.TempDir()
	cleanupMount(t, dir)
	pid := mountDaemon(t, bin, "--config", cl.ConfigPath, dir)
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "the mount process to die", func() bool { return !alive(pid) })
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s still answers with its process dead", dir)
	}
	if code, _, errs := run(t, "umount", dir); code != 0 {
		t.Fatalf("umount of a dead mount: exit %d %q", code, errs)
	}
	if isMounted(dir) {
		t.Fatalf("%s still mounted after umount", dir)
	}
}

// A foreground mount ends cleanly (exit 0) by fusermount3 -u or SIGTERM.
func TestMountForeground(t *testing.T) {
	requireFUSE(t)
	cl := startCluster(t, 4)
	bin := testcluster.Binary(t, "ferry")
	for _, how := range []string{"fusermount3", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			if how == "fusermount3" {
				if _, err := exec.LookPath("fusermount3"); err != nil {
					if os.Getenv("FERRY_TEST_REQUIRE_FABRIC") == "1" {
						t.Fatal("fusermount3 is missing (scripts/setup.sh installs fuse3)")
					}
					t.Skip("fusermount3 is not installed (scripts/setup.sh installs fuse3)")
				}
			}
			dir := t.TempDir()
			cleanupMount(t, dir)
			var logb bytes.Buffer
			cmd := exec.Command(bin, "mount", "--config", cl.ConfigPath, dir)
			cmd.Stdout, cmd.Stderr = &logb, &logb
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					// A FUSE daemon stuck in the kernel ignores SIGKILL
					// until its mount is torn down.
					exec.Command("fusermount3", "-u", "-z", dir).Run()
					t.Errorf("ferry mount did not exit after SIGKILL")
				}
			})
			waitFor(t, "the mount", func() bool { return isMounted(dir) })
			if err := os.WriteFile(filepath.Join(dir, how), []byte(how), 0o644); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "fusermount3":
				if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
					t.Fatalf("fusermount3 -u: %v: %s", err, out)
				}
			case "SIGTERM":
				cmd.Process.Signal(syscall.SIGTERM)
			}
			select {
			case err := <-done:
				done <- err // for the cleanup
				if err != nil {
					t.Fatalf("ferry mount exited with %v\n%s", err, logb.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("ferry mount still running after the unmount\n%s", logb.String())
			}
			if isMounted(dir) || !strings.Contains(logb.String(), "unmounted") {
				t.Fatalf("after the unmount: mounted %v, log:\n%s", isMounted(dir), logb.String())
			}
			if got := mustRun(t, "cat", "--config", cl.ConfigPath, "/"+how); got != how {
				t.Fatalf("file written through the mount reads %q", got)
			}
		})
	}
}

// A mount that cannot be made is an error naming the cause, also with
// --daemon (the parent reports the child's failure).
func TestMountErrors(t *testing.T) {
	requireFUSE(t)
	cl := startCluster(t, 1)
	bin := testcluster.Binary(t, "ferry")
	missing := filepath.Join(t.TempDir(), "nope")
	for _, args := range [][]string{
		{"mount", "--config", cl.ConfigPath, missing},
		{"mount", "--config", cl.ConfigPath, "--daemon", missing},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no such file or directory") {
			t.Errorf("ferry %s: %v, %q; want an error naming the missing directory", strings.Join(args, " "), err, out)
		}
	}
	code, _, errs := run(t, "umount", missing)
	if code != 1 || !strings.Contains(errs, missing) {
		t.Errorf("umount of a missing mount: exit %d, %q", code, errs)
	}
	// Only ferry mounts are unmounted: a directory, or the root file
	// system (which root could otherwise try), is refused and named.
	for dir, says := range map[string]string{t.TempDir(): "not a mount point", "/": "not a ferry mount"} {
		if code, _, errs := run(t, "umount", dir); code != 1 || !strings.Contains(errs, says) {
			t.Errorf("umount %s: exit %d %q, want %q", dir, code, errs, says)
		}
	}
}
