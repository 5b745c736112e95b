package ioserver

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// exiting tells a live holder of a storage lock (refused at once) from
// one that is gone or a zombie (waited for), and reads nothing it does
// not know as exiting.
func TestExitingHolder(t *testing.T) {
	holder := func(pid int) []byte { return []byte(fmt.Sprintf("ferryd server 0, pid %d\n", pid)) }
	if exiting(holder(os.Getpid())) {
		t.Error("a live process reads as exiting")
	}
	zombie := exec.Command("sleep", "60")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	pid := zombie.Process.Pid
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for !exiting(holder(pid)) { // a zombie until waited for
		if time.Now().After(deadline) {
			t.Fatal("a killed, unwaited child never read as exiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	zombie.Wait()
	if !exiting(holder(pid)) {
		t.Error("a process that is gone does not read as exiting")
	}
	for _, junk := range []string{"", "garbage", "ferryd server 0, pid -3"} {
		if exiting([]byte(junk)) {
			t.Errorf("lock file %q reads as exiting", junk)
		}
	}
}
