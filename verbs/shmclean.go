package verbs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ShmDir is where libfabric's shm provider keeps its regions.
const ShmDir = "/dev/shm"

// RemoveStaleShm removes the regions libfabric's shm provider left in
// /dev/shm for processes that are gone. shm names each endpoint's region
// PID:UID:N (its fi_shm:// address without the prefix) and unlinks it
// only in fi_close, so every process killed or exiting without closing
// its endpoint leaks one (16 MiB each with libfabric 1.17).
//
// A region is stale when no process with its PID exists. With allUsers
// false only regions whose name and file owner are the caller's uid are
// touched, which is what a client may do; a server at start passes true
// and removes every stale region it has the right to. Ferry creates no
// other files in /dev/shm. It returns the paths removed; regions it may
// not remove are skipped, and the first other error is returned after
// the rest are tried.
func RemoveStaleShm(allUsers bool) ([]string, error) {
	uid := os.Getuid()
	if allUsers {
		uid = -1
	}
	return removeStaleShm(ShmDir, uid, pidAlive)
}

// pidAlive reports whether a process with pid exists. A zombie counts as
// alive: its parent has not reaped it, and its pid cannot be reused yet.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// removeStaleShm removes dir's shm regions of dead processes; uid >= 0
// limits it to regions whose name and owner are that uid.
func removeStaleShm(dir string, uid int, alive func(int) bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("verbs: list %s: %w", dir, err)
	}
	var removed []string
	var first error
	for _, d := range ents {
		pid, owner, ok := parseShmName(d.Name())
		if !ok || (uid >= 0 && owner != uid) || alive(pid) {
			continue
		}
		p := filepath.Join(dir, d.Name())
		if uid >= 0 {
			info, err := d.Info()
			if err != nil {
				continue // gone meanwhile
			}
			st, ok := info.Sys().(*syscall.Stat_t)
			if !ok || int(st.Uid) != uid {
				continue
			}
		}
		switch err := os.Remove(p); {
		case err == nil:
			removed = append(removed, p)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		default:
			if first == nil {
				first = fmt.Errorf("verbs: remove stale shm region: %w", err)
			}
		}
	}
	return removed, first
}

// parseShmName parses a region name PID:UID:N.
func parseShmName(name string) (pid, uid int, ok bool) {
	parts := strings.Split(name, ":")
	if len(parts) != 3 {
		return 0, 0, false
	}
	var nums [3]int
	for i, s := range parts {
		if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
			return 0, 0, false
		}
		n, err := strconv.Atoi(s)
		if err != nil || n > 1<<31-1 {
			return 0, 0, false
		}
		nums[i] = n
	}
	if nums[0] <= 0 {
		return 0, 0, false
	}
	return nums[0], nums[1], true
}
