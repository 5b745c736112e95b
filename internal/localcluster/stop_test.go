package localcluster

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// child runs a shell script as a child process the way spawn does, and
// returns once the script has said "ready" (its traps are set).
func child(t *testing.T, script string) *proc {
	t.Helper()
	cmd := exec.Command("sh", "-c", script+"; echo ready; while :; do sleep 0.05; done")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		t.Fatalf("child said %q, %v", line, err)
	}
	p := &proc{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	return p
}

// stopAll tells a clean exit from a failing one and from one that had to
// be killed.
func TestStopAllReportsUncleanExits(t *testing.T) {
	clean := child(t, `trap 'exit 0' TERM`)
	failing := child(t, `trap 'exit 3' TERM`)
	deaf := child(t, `trap '' TERM`)
	if err := stopAll([]*proc{clean}, syscall.SIGTERM, time.Minute); err != nil {
		t.Errorf("clean exit: %v", err)
	}
	if err := stopAll([]*proc{failing}, syscall.SIGTERM, time.Minute); err == nil || !strings.Contains(err.Error(), "exit status 3") || errors.Is(err, ErrKilled) {
		t.Errorf("exit 3: %v", err)
	}
	// A short grace: this one ignores SIGTERM and can only be killed.
	if err := stopAll([]*proc{deaf}, syscall.SIGTERM, 100*time.Millisecond); !errors.Is(err, ErrKilled) {
		t.Errorf("SIGTERM ignored: %v", err)
	}
	for _, p := range []*proc{clean, failing, deaf} {
		if p.alive() {
			t.Errorf("pid %d still alive", p.pid)
		}
	}
	// SIGKILL is what Kill asks for: not an error.
	if err := stopAll([]*proc{child(t, `trap '' TERM`)}, syscall.SIGKILL, time.Minute); err != nil {
		t.Errorf("SIGKILL: %v", err)
	}
}
