//go:build cgo

package verbs

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestRemoveStaleShmRules(t *testing.T) {
	dir := t.TempDir()
	me := os.Getuid()
	names := []string{
		"100:" + strconv.Itoa(me) + ":0",    // dead, mine: removed
		"100:" + strconv.Itoa(me+1) + ":1",  // dead, another uid by name: only for allUsers
		"200:" + strconv.Itoa(me) + ":0",    // alive: kept
		"300:x:0", "notshm", "0:0:0", "1:2", // not regions: kept
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	alive := func(pid int) bool { return pid == 200 }
	left := func() string {
		ents, _ := os.ReadDir(dir)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	gone, err := removeStaleShm(dir, me, alive)
	if err != nil || len(gone) != 1 || filepath.Base(gone[0]) != names[0] {
		t.Fatalf("own uid: removed %v, %v; want only %s", gone, err, names[0])
	}
	gone, err = removeStaleShm(dir, -1, alive)
	if err != nil || len(gone) != 1 || filepath.Base(gone[0]) != names[1] {
		t.Fatalf("all users: removed %v, %v; want only %s (left: %s)", gone, err, names[1], left())
	}
	want := []string{names[2], "0:0:0", "1:2", "300:x:0", "notshm"}
	sort.Strings(want)
	if got := left(); got != strings.Join(want, " ") {
		t.Fatalf("left %q, want %q", got, strings.Join(want, " "))
	}
}

// A process killed with its shm endpoint open leaks its /dev/shm region;
// the next shm endpoint this user opens removes it.
func TestKilledProcessShmRemovedAtOpen(t *testing.T) {
	openOrSkip(t, "shm").Close()
	c := startChild(t, "shm")
	pid := c.cmd.Process.Pid
	regions := func() []string {
		m, _ := filepath.Glob(filepath.Join(ShmDir, strconv.Itoa(pid)+":*"))
		return m
	}
	if len(regions()) == 0 {
		t.Fatalf("child %d has no region in %s", pid, ShmDir)
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait() // reaped: the pid is gone
	if len(regions()) == 0 {
		t.Fatal("the killed child's region vanished by itself; nothing to test")
	}
	e := openOrSkip(t, "shm")
	defer e.Close()
	if r := regions(); len(r) != 0 {
		t.Fatalf("regions of dead pid %d left after a new shm endpoint opened: %v", pid, r)
	}
}
