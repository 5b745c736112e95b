package ioserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	// A holder that is exiting (killed, its main thread a zombie while
	// the others still close its files) lets go within moments: a
	// restart right after a kill waits for it rather than failing.
	for deadline := time.Now().Add(lockExitWait); errors.Is(err, unix.EWOULDBLOCK) && time.Now().Before(deadline); {
		holder, _ := os.ReadFile(path)
		if !exiting(holder) {
			break
		}
		time.Sleep(20 * time.Millisecond)
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
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

// lockExitWait bounds the wait for a storage lock whose holder is exiting.
const lockExitWait = 10 * time.Second

// exiting says whether the process the lock file names (holder, as
// lockStorage writes it) is gone, a zombie or on its way out (the
// kernel's PF_EXITING: still unmapping, closing): its lock goes with
// its last thread.
func exiting(holder []byte) bool {
	var id, pid int
	if _, err := fmt.Sscanf(string(holder), "ferryd server %d, pid %d", &id, &pid); err != nil || pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	// "pid (comm) S ppid pgrp session tty tpgid flags ...": the state
	// follows the last ')', the flags are the seventh field after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 {
		return false
	}
	if f[0] == "Z" || f[0] == "X" {
		return true
	}
	const pfExiting = 0x4
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfExiting != 0
}
