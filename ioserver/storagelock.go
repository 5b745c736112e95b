package ioserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// storageLockName is the file in a storage directory whose lock its
// server holds while it runs.
const storageLockName = "ferryd.lock"

// lockStorage takes the exclusive lock on the storage directory dir for
// server id and writes who holds it into the lock file. Two servers on
// one directory (a config that gives two servers the same storage, or a
// server started twice) would write their strips into the same datafiles
// and read each other's bytes back as their own: the second is refused.
// The kernel drops the lock when the process ends, however it ends.
func lockStorage(dir string, id int) (*os.File, error) {
	path := filepath.Join(dir, storageLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage %s: lock: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("storage %s is in use by %s: one storage directory serves one server: %w", dir, who, unix.EBUSY)
		}
		return nil, fmt.Errorf("storage %s: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "ferryd server %d, pid %d\n", id, os.Getpid())
	}
	return f, nil
}
