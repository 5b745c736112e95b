package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// pair is a connected Unix stream pair, both ends in the poller as a
// server's and a client's connections are.
func pair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		got <- c
	}()
	a, err = net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-got
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestWritevRead moves more than a socket buffer holds through Writev
// and Read, so both wait in the poller for room and for bytes.
func TestWritevRead(t *testing.T) {
	a, b := pair(t)
	ra, rb := New(a), New(b)
	if ra == nil || rb == nil {
		t.Fatal("no descriptor")
	}
	parts := [][]byte{bytes.Repeat([]byte{1}, 3), nil, bytes.Repeat([]byte{2}, 5<<20), bytes.Repeat([]byte{3}, 7)}
	var want []byte
	for _, p := range parts {
		want = append(want, p...)
	}
	errc := make(chan error, 1)
	go func() { errc <- ra.Writev(parts...) }()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(rb, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes read differ from bytes written")
	}
}

// TestWritevManyBuffers: more buffers than one sendmsg takes (1024) go
// whole and in order, as a list write of thousands of small pieces does.
func TestWritevManyBuffers(t *testing.T) {
	a, b := pair(t)
	ra, rb := New(a), New(b)
	var parts [][]byte
	var want []byte
	for i := range 3000 {
		p := bytes.Repeat([]byte{byte(i)}, 1+i%29)
		parts = append(parts, p)
		want = append(want, p...)
	}
	errc := make(chan error, 1)
	go func() {
		err := ra.Writev(parts...)
		if err != nil {
			a.Close() // the reader sees the end instead of waiting
		}
		errc <- err
	}()
	got := make([]byte, len(want))
	_, rerr := io.ReadFull(rb, got)
	if err := <-errc; err != nil {
		t.Fatalf("Writev of %d buffers: %v", len(parts), err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes read differ from bytes written")
	}
}

func TestReadEndings(t *testing.T) {
	a, b := pair(t)
	rb := New(b)
	var p [8]byte

	// A passed deadline: a timeout, as net.Conn gives.
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := rb.Read(p[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	b.SetReadDeadline(time.Time{})

	// The peer's close: EOF.
	a.Close()
	if _, err := rb.Read(p[:]); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}

	// Our own close: net.ErrClosed.
	b.Close()
	if _, err := rb.Read(p[:]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v, want net.ErrClosed", err)
	}
	if err := rb.Writev([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

func TestWriteToGonePeer(t *testing.T) {
	a, b := pair(t)
	b.Close()
	ra := New(a)
	var err error
	for i := 0; i < 10 && err == nil; i++ { // the first write may still land in the buffer
		err = ra.Writev(make([]byte, 64<<10))
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write to a closed peer: %v, want EPIPE", err)
	}
}

func TestSpin(t *testing.T) {
	a, b := pair(t)
	rb := New(b)
	start := time.Now()
	if rb.Spin(2 * time.Millisecond) {
		t.Fatal("Spin reported bytes on a quiet socket")
	}
	if time.Since(start) < 2*time.Millisecond {
		t.Fatal("Spin returned before its budget")
	}
	if rb.Spin(0) {
		t.Fatal("Spin(0) reported bytes")
	}
	go func() {
		time.Sleep(time.Millisecond)
		a.Write([]byte("hi"))
	}()
	if !rb.Spin(10 * time.Second) {
		t.Fatal("Spin missed bytes that came")
	}
	var p [2]byte
	if _, err := io.ReadFull(rb, p[:]); err != nil || string(p[:]) != "hi" {
		t.Fatalf("read after Spin: %q, %v", p, err)
	}
	a.Close()
	if !rb.Spin(10 * time.Second) {
		t.Fatal("Spin missed the peer's close")
	}
	b.Close()
	if !rb.Spin(10 * time.Second) {
		t.Fatal("Spin on a closed connection did not return at once")
	}
}

func TestPreadCachedAndSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("ferry"), 3000)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := Size(f.Fd()); err != nil || n != int64(len(data)) {
		t.Fatalf("Size: %d, %v; want %d", n, err, len(data))
	}
	p := make([]byte, 4096)
	n, err := PreadCached(f.Fd(), p, 100)
	if errors.Is(err, ErrWouldBlock) {
		t.Skip("the just-written pages are not cached (or RWF_NOWAIT unsupported)")
	}
	if err != nil || n != len(p) || !bytes.Equal(p, data[100:100+len(p)]) {
		t.Fatalf("PreadCached at 100: %d, %v", n, err)
	}
	// Across the end: what there is.
	n, err = PreadCached(f.Fd(), p, int64(len(data)-10))
	if err != nil || n != 10 || !bytes.Equal(p[:n], data[len(data)-10:]) {
		t.Fatalf("PreadCached across the end: %d, %v", n, err)
	}
	if _, err := PreadCached(^uintptr(0)>>1, p, 0); err == nil || errors.Is(err, ErrWouldBlock) {
		t.Fatalf("PreadCached on a bad descriptor: %v, want EBADF", err)
	}
	if _, err := Size(^uintptr(0) >> 1); err == nil {
		t.Fatal("Size of a bad descriptor: no error")
	}
}

// A small request's system calls allocate nothing: Writev (also with more
// buffers than its array holds, which copies them once), Read and Spin
// each take their arguments and poller function from the Conn.
func TestNoAllocations(t *testing.T) {
	a, b := pair(t)
	ra, rb := New(a), New(b)
	frame, body := make([]byte, 64), make([]byte, 4096)
	bufs := [][]byte{frame, body}
	in := make([]byte, len(frame)+len(body))
	allocs := testing.AllocsPerRun(200, func() {
		if err := ra.Writev(bufs...); err != nil {
			t.Fatal(err)
		}
		if !rb.Spin(time.Second) {
			t.Fatal("no bytes within a second")
		}
		if _, err := io.ReadFull(rb, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per write, spin and read, want 0", allocs)
	}
	many := make([][]byte, 12)
	for i := range many {
		many[i] = []byte{byte(i)}
	}
	if err := ra.Writev(many...); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(many))
	if _, err := io.ReadFull(rb, got); err != nil || !bytes.Equal(got, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("12 one-byte buffers read back as %v (%v)", got, err)
	}
}
