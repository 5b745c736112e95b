package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/buildinfo"
	"github.com/ferry-hpc/ferry/internal/localcluster"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// ferryd under systemd's notify protocol: a datagram socket named by
// NOTIFY_SOCKET gets READY=1 once the server accepts connections and
// STOPPING=1 on SIGTERM; the server then exits 0 leaving no shared-memory
// file of its own behind. The id comes from the launcher's rank variable.
func TestNotifyReadyAndCleanStop(t *testing.T) {
	dir := t.TempDir()
	lc, err := localcluster.Create(filepath.Join(dir, "fs"), localcluster.Options{Servers: 1})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cmd := exec.Command(testcluster.Binary(t, "ferryd"), "--config", lc.ConfigPath, "--log-level", "debug")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "PMI_RANK=0")
	logPath := filepath.Join(dir, "ferryd.log")
	logf, _ := os.Create(logPath)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	read := func(want string) {
		t.Helper()
		pc.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a bound, not a measurement
		buf := make([]byte, 4096)
		n, _, err := pc.ReadFromUnix(buf)
		if err != nil {
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("waiting for %s: %v\n%s", want, err, logs)
		}
		if !strings.Contains(string(buf[:n]), want) {
			t.Fatalf("notify message %q, want %s", buf[:n], want)
		}
	}
	read("READY=1")
	// Ready means accepting: a connection must succeed now.
	if nc, err := net.DialTimeout("tcp", lc.Config.Servers[0].Address, 10*time.Second); err != nil {
		t.Fatalf("READY=1 sent but the server does not accept: %v", err)
	} else {
		nc.Close()
	}
	pid := cmd.Process.Pid
	cmd.Process.Signal(syscall.SIGTERM)
	read("STOPPING=1")
	select {
	case err := <-exited:
		if err != nil {
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("ferryd exit after SIGTERM: %v\n%s", err, logs)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("ferryd did not exit after SIGTERM")
	}
	// libfabric's shm names its files <pid>:<uid>:<n> (see verbs/doc.go).
	left, _ := filepath.Glob("/dev/shm/" + strconv.Itoa(pid) + ":*")
	if len(left) > 0 {
		t.Fatalf("files left in /dev/shm after a clean stop: %v", left)
	}
	logs, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logs), `id_from="PMI_RANK=0"`) {
		t.Fatalf("the id did not come from PMI_RANK:\n%s", logs)
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := exec.Command(testcluster.Binary(t, "ferryd"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// go test's build carries no commit stamp: compare the version part.
	if !strings.HasPrefix(string(out), "ferryd "+buildinfo.Version()) || !strings.Contains(string(out), "protocol") {
		t.Fatalf("--version: %q", out)
	}
}
