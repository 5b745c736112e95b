package rawio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writerPair is a Unix stream socket pair: a Writer on one end (out of
// the poller) and a Conn reading the other, as a reply socket is used.
func writerPair(t *testing.T) (*Writer, *Conn, int) {
	t.Helper()
	a, b := pair(t)
	fd, err := Detach(a)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, New(b), fd
}

// A detached socket is out of the poller, and its writes, more than the
// socket holds (so the writer waits in the kernel for room), arrive whole
// and in order.
func TestWriterOutsidePoller(t *testing.T) {
	w, r, fd := writerPair(t)
	w.SetWriteDeadline(time.Now().Add(time.Minute))
	if in, err := InPoller(fd); err != nil || in {
		t.Fatalf("detached socket in the poller: %v (%v)", in, err)
	}
	// The check itself sees a socket the poller holds.
	c, _ := pair(t)
	var polled bool
	New(c).rc.Control(func(fd uintptr) { polled, _ = InPoller(int(fd)) })
	if !polled {
		t.Fatal("InPoller does not see a net.Conn's socket in the poller")
	}
	parts := [][]byte{bytes.Repeat([]byte{1}, 3), bytes.Repeat([]byte{2}, 5<<20), []byte("end")}
	var want []byte
	for _, p := range parts {
		want = append(want, p...)
	}
	errc := make(chan error, 1)
	go func() { errc <- w.Writev(parts...) }()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes read differ from bytes written")
	}
}

// A write with no room and no reader gives up at its deadline; Close
// wakes a write waiting in another goroutine.
func TestWriterDeadlineAndClose(t *testing.T) {
	w, _, _ := writerPair(t)
	w.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	big := make([]byte, 16<<20)
	if err := w.Writev(big); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write with no reader: %v, want a passed deadline", err)
	}
	w2, _, _ := writerPair(t)
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		errc <- w2.Writev(big)
	}()
	<-started
	time.Sleep(50 * time.Millisecond) // the write fills the socket and waits
	w2.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write waiting when closed: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake a waiting write")
	}
	if _, err := w2.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

// The deadline bounds the whole write, not each wait: a reader that keeps
// taking a little at a time cannot hold a write past it (it would hold
// the server's reply lock for as long as it liked).
func TestWriterDeadlineWithSlowReader(t *testing.T) {
	w, r, _ := writerPair(t)
	fast := make(chan struct{}) // closed: read on without pausing
	got := make(chan int, 1)
	go func() {
		b := make([]byte, 64<<10)
		total := 0
		for {
			select {
			case <-fast:
			case <-time.After(20 * time.Millisecond):
			}
			n, err := r.Read(b)
			total += n
			if err != nil {
				got <- total
				return
			}
		}
	}()
	w.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	// 16 MiB at 64 KiB per 20 ms takes 5 s: well past the deadline.
	const size = 16 << 20
	n, err := w.Write(make([]byte, size))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a slow reader: %v, want a passed deadline", err)
	}
	if n <= 0 || n >= size {
		t.Errorf("write failed after %d bytes of %d, want some and not all", n, size)
	}
	// What Write counts as written is what the reader gets.
	close(fast)
	w.Close()
	select {
	case total := <-got:
		if total != n {
			t.Errorf("the reader got %d bytes, Write reported %d written", total, n)
		}
	case <-time.After(time.Minute):
		t.Fatal("the reader never saw the end of the stream")
	}
}

// A peer that is gone gives EPIPE, not SIGPIPE (which would kill the test).
func TestWriterGonePeer(t *testing.T) {
	w, r, _ := writerPair(t)
	w.SetWriteDeadline(time.Now().Add(time.Minute))
	r.rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RDWR) })
	var err error
	for range 100 {
		if err = w.Writev(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	if !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("write to a gone peer: %v, want EPIPE", err)
	}
}

// Writes that wait for room hold no thread each: a client that stops
// reading must not pin one of the server's threads per connection.
func TestWaitingWritersHoldNoThreads(t *testing.T) {
	const n = 200
	ws := make([]*Writer, n)
	for i := range ws {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[1]) }) // the peer, never read
		if ws[i], err = NewWriter(fds[0]); err != nil {
			t.Fatal(err)
		}
	}
	before := threads(t)
	errc := make(chan error, n)
	big := make([]byte, 8<<20)
	for _, w := range ws {
		go func() { errc <- w.Writev(big) }()
	}
	time.Sleep(300 * time.Millisecond) // every write fills its socket and waits
	// At most the slots' threads wait in the kernel; the rest park. (A
	// thread per write would be 200 more.)
	if during := threads(t); during > before+cap(blockSlots)+runtime.GOMAXPROCS(0)+8 {
		t.Errorf("%d writes waiting for room: %d threads, %d before", n, during, before)
	}
	for _, w := range ws {
		w.Close()
	}
	for range n {
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("waiting write when closed: %v, want net.ErrClosed", err)
		}
	}
}

func threads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		var n int
		if _, err := fmt.Sscanf(string(l), "Threads: %d", &n); err == nil {
			return n
		}
	}
	t.Fatal("no thread count in /proc/self/status")
	return 0
}

// A small frame through a Writer allocates nothing.
func TestWriterNoAllocations(t *testing.T) {
	w, r, _ := writerPair(t)
	frame, body := make([]byte, 64), make([]byte, 4096)
	in := make([]byte, len(frame)+len(body))
	allocs := testing.AllocsPerRun(200, func() {
		if err := w.Writev(frame, body); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per write and read, want 0", allocs)
	}
}
