package clientlib

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/proto"
)

// TestRecvDatafile: the client takes the descriptor tagged with its
// request's ID, closes and skips those of other requests, and refuses a
// message without a descriptor, a descriptor that is not a regular file,
// and silence (by its deadline).
func TestRecvDatafile(t *testing.T) {
	pair := func() (*rawio.Writer, int) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, err := rawio.NewWriter(fds[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close(); unix.Close(fds[1]) })
		return w, fds[1]
	}
	send := func(s int, id uint64, fd int) {
		t.Helper()
		var oob []byte
		if fd >= 0 {
			oob = unix.UnixRights(fd)
		}
		if err := unix.Sendmsg(s, proto.AppendLocalFileTag(nil, id), oob, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	open := func(name string) *os.File {
		f, err := os.Create(t.TempDir() + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(name)
		t.Cleanup(func() { f.Close() })
		return f
	}
	contents := func(f *os.File) string {
		b := make([]byte, 16)
		n, _ := f.ReadAt(b, 0)
		return string(b[:n])
	}

	w, s := pair()
	stale, mine := open("stale"), open("mine")
	send(s, 5, int(stale.Fd()))
	send(s, 7, int(mine.Fd()))
	got, err := recvDatafile(w, 7, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c := contents(got); c != "mine" {
		t.Errorf("took the descriptor of %q, want mine", c)
	}
	got.Close()

	send(s, 8, -1)
	if _, err := recvDatafile(w, 8, time.Second); !errors.Is(err, proto.ErrMalformed) {
		t.Errorf("message without a descriptor: %v, want ErrMalformed", err)
	}

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	send(s, 9, p[0])
	unix.Close(p[0])
	unix.Close(p[1])
	if _, err := recvDatafile(w, 9, time.Second); !errors.Is(err, syscall.EPROTO) {
		t.Errorf("a pipe for a datafile: %v, want EPROTO", err)
	}

	start := time.Now()
	if _, err := recvDatafile(w, 10, 50*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("no message: %v after %v, want a deadline error", err, time.Since(start))
	}

	// Every descriptor received and not returned was closed: only this
	// test's own files are open on them.
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		if to, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && (to == stale.Name() || to == mine.Name()) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d descriptors open on the test's files, want 2 (the test's own)", n)
	}
}
