package itest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/clientenv"
)

// Client processes: the test binary re-run with clientModeEnv set mounts
// the file system of FERRY_CONFIG (provider and strategy from the usual
// FERRY_* variables) and checks its own file, byte for byte:
//
//	once  write FERRY_ITEST_BYTES bytes to FERRY_ITEST_PATH, read them back
//	loop  the same over and over; "READY" on stdout after the first round
//	gate  once, but after mounting and creating the file it prints
//	      "READY" and waits for its stdin to close before the round
//
// In modes once and gate it prints "CALLS <write ns> <read ns>" at the end.
//
// It prints the first error on stderr and exits 1.
const clientModeEnv = "FERRY_ITEST_CLIENT"

func clientMain(mode string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	n, err := strconv.Atoi(os.Getenv("FERRY_ITEST_BYTES"))
	if err != nil {
		return fail(err)
	}
	path := os.Getenv("FERRY_ITEST_PATH")
	o, err := clientenv.Options(clientlib.Options{}, os.Getenv)
	if err != nil {
		return fail(err)
	}
	c, err := clientlib.Mount(context.Background(), os.Getenv(clientenv.Config), o)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	f, err := c.Create(context.Background(), path, clientlib.CreateOptions{})
	if err != nil {
		return fail(err)
	}
	want := make([]byte, n)
	got := make([]byte, n)
	if mode == "gate" {
		fmt.Println("READY")
		io.Copy(io.Discard, os.Stdin)
	}
	for round := 0; ; round++ {
		fillSeeded(want, uint64(os.Getpid())<<20+uint64(round))
		start := time.Now()
		if _, err := f.WriteAt(want, 0); err != nil {
			return fail(fmt.Errorf("round %d: %w", round, err))
		}
		wrote := time.Now()
		clear(got)
		if m, err := f.ReadAt(got, 0); err != nil || m != n {
			return fail(fmt.Errorf("round %d: read %d of %d: %w", round, m, n, err))
		}
		read := time.Now()
		if !bytes.Equal(got, want) {
			return fail(fmt.Errorf("round %d: bytes read differ from bytes written", round))
		}
		if mode != "loop" {
			fmt.Printf("CALLS %d %d\n", wrote.Sub(start), read.Sub(wrote))
			return 0
		}
		if round == 0 {
			fmt.Println("READY")
		}
	}
}

func fillSeeded(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
}

// clientProc is one client process.
type clientProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	ready  chan struct{}
	closed chan struct{} // its stdout closed: it exited (or is exiting)
	gate   io.Closer     // mode gate: closing it starts the round
	// How long its write and read calls took (modes once and gate);
	// set before closed is closed.
	writeCall, readCall time.Duration
}

// startClient starts a client process in mode on the config at cfgPath,
// with extra environment; it is killed when the test ends.
func startClient(t *testing.T, mode, cfgPath, path string, n int, env ...string) *clientProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), clientModeEnv+"="+mode, clientenv.Config+"="+cfgPath,
		"FERRY_ITEST_PATH="+path, "FERRY_ITEST_BYTES="+strconv.Itoa(n))
	cmd.Env = append(cmd.Env, env...)
	p := &clientProc{cmd: cmd, ready: make(chan struct{}), closed: make(chan struct{})}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if mode == "gate" {
		if p.gate, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.closed)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				close(p.ready)
			}
			var w, r int64
			if n, _ := fmt.Sscanf(sc.Text(), "CALLS %d %d", &w, &r); n == 2 {
				p.writeCall, p.readCall = time.Duration(w), time.Duration(r)
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Wait()
			// A killed process leaves its shm endpoint's region behind.
			if names, _ := filepath.Glob(fmt.Sprintf("/dev/shm/%d:*", cmd.Process.Pid)); len(names) > 0 {
				for _, n := range names {
					os.Remove(n)
				}
			}
		}
	})
	return p
}

// wait waits for the process to exit, at most limit.
func (p *clientProc) wait(limit time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%v: %s", err, bytes.TrimSpace(p.stderr.Bytes()))
		}
		return nil
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("no exit within %v: hang", limit)
	}
}
