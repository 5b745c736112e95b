package clientlib

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/proto"
)

// TestRecvDatafile: the client takes the descriptor tagged with its
// request's ID, closes and skips those of other requests, and refuses a
// message without a descriptor, a descriptor that is not a regular file,
// and silence.
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
	got, err := recvDatafile(w, 7)
	if err != nil {
		t.Fatal(err)
	}
	if c := contents(got); c != "mine" {
		t.Errorf("took the descriptor of %q, want mine", c)
	}
	got.Close()

	send(s, 8, -1)
	if _, err := recvDatafile(w, 8); !errors.Is(err, proto.ErrMalformed) {
		t.Errorf("message without a descriptor: %v, want ErrMalformed", err)
	}

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	send(s, 9, p[0])
	unix.Close(p[0])
	unix.Close(p[1])
	if _, err := recvDatafile(w, 9); !errors.Is(err, syscall.EPROTO) {
		t.Errorf("a pipe for a datafile: %v, want EPROTO", err)
	}

	// Nothing there: the server puts the message before its reply, so
	// none is a broken protocol at once, not a wait.
	if _, err := recvDatafile(w, 10); !errors.Is(err, proto.ErrMalformed) {
		t.Errorf("no message: %v, want ErrMalformed", err)
	}

	// A tag sent in two pieces, the descriptor with the first.
	tag := proto.AppendLocalFileTag(nil, 11)
	if err := unix.Sendmsg(s, tag[:3], unix.UnixRights(int(mine.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(s, tag[3:]); err != nil {
		t.Fatal(err)
	}
	got, err = recvDatafile(w, 11)
	if err != nil {
		t.Fatalf("tag in two pieces: %v", err)
	}
	got.Close()

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
