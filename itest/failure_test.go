package itest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
)

// within runs f and fails the test if it has not returned after limit:
// a hang is a failure, not a stuck CI job.
func within[T any](t *testing.T, limit time.Duration, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(limit):
		t.Fatalf("no result within %v: hang", limit)
		panic("unreachable")
	}
}

func TestKilledServerGivesErrorNamingIt(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4})
	c := cl.Mount(t, clientlib.Options{Timeout: 5 * time.Second})
	f, err := c.Create(ctx, "/victim", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	victim := 2
	if victim == c.MetaServer() {
		victim = 3
	}
	cl.Kill(victim)
	for _, op := range []string{"read", "write"} {
		err := within(t, 30*time.Second, func() error {
			if op == "read" {
				_, err := f.ReadAt(make([]byte, len(data)), 0)
				return err
			}
			_, err := f.WriteAt(data, 0)
			return err
		})
		var fe *clientlib.Error
		if !errors.As(err, &fe) || fe.Server != victim {
			t.Fatalf("%s after kill: err = %v, want a *clientlib.Error naming server %d", op, err, victim)
		}
		if !strings.Contains(err.Error(), cl.Config.Servers[victim].Address) {
			t.Fatalf("%s error %q does not name the server's address", op, err)
		}
	}
	// The rest of the file system still works.
	if _, err := c.Create(ctx, "/still-here", clientlib.CreateOptions{Count: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestKilledMidReadRecovers: a server killed in the middle of a shm read
// that copies into the client, and started again, serves the same client
// within seconds, and the client closes. The killed server may die
// holding the lock of the client's region it copied into; the client
// reconnecting first hid the dead holder from the lock watchdog, and in
// a run of three or so the client then hung for good (a review found it).
func TestKilledMidReadRecovers(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 4})
	// Reads by RMA: with local reads the client would read the killed
	// server's datafile itself, and never fail.
	c, err := clientlib.Mount(ctx, cl.ConfigPath, clientlib.Options{Provider: "shm", Timeout: 3 * time.Second, LocalReads: clientlib.LocalReadsOff})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	f, err := c.Create(ctx, "/f", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	victim := 2
	if victim == c.MetaServer() {
		victim = 3
	}
	failed := make(chan error, 1)
	go func() {
		buf := make([]byte, len(want))
		for {
			if _, err := f.ReadAt(buf, 0); err != nil {
				failed <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	cl.Kill(victim)
	within(t, 30*time.Second, func() error { return <-failed })
	cl.StartServer(victim)
	got := make([]byte, len(want))
	var last error
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		if _, last = f.ReadAt(got, 0); last == nil {
			break
		}
	}
	if last != nil {
		t.Fatalf("no read for %v after the server's restart: %v", time.Since(start), last)
	}
	t.Logf("read again %v after the restart", time.Since(start).Round(time.Millisecond))
	if !bytes.Equal(got, want) {
		t.Fatal("bytes read after the restart differ")
	}
	within(t, 30*time.Second, func() error { return c.Close() })
}

// With local reads (the default on the servers' host), a file already
// open reads on while its server is down: the bytes the server wrote are
// in its datafile, which the client holds open. A file opened after the
// kill cannot get that server's descriptor: its read fails, naming the
// server, as writes do, and nothing hangs.
func TestLocalReadsServerKilled(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{Provider: "none", Timeout: 3 * time.Second})
	want := bytes.Repeat([]byte("local reads! "), 20000) // 260 KB: both servers' strips
	f, err := c.Create(ctx, "/killed", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	victim := 1 - c.MetaServer()
	cl.Kill(victim)
	clear(got)
	if n, err := f.ReadAt(got, 0); n != len(want) || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read of an open file with its server down: %d, %v", n, err)
	}
	g, err := c.Open(ctx, "/killed")
	if err != nil {
		t.Fatal(err)
	}
	var ce *clientlib.Error
	err = within(t, 30*time.Second, func() error { _, err := g.ReadAt(got, 0); return err })
	if !errors.As(err, &ce) || ce.Server != victim {
		t.Errorf("read of a file opened after the kill: %v, want an error from server %d", err, victim)
	}
	err = within(t, 30*time.Second, func() error { _, err := f.WriteAt(want, 0); return err })
	if !errors.As(err, &ce) || ce.Server != victim {
		t.Errorf("write with the server down: %v, want an error from server %d", err, victim)
	}
}

// A server that stops answering (SIGSTOP) gives a timeout error, not a hang.
func TestHungServerTimesOut(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{Timeout: 2 * time.Second})
	f, err := c.Create(ctx, "/slow", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 256<<10), 0)
	victim := 1 - c.MetaServer()
	cl.Signal(victim, syscall.SIGSTOP)
	defer cl.Signal(victim, syscall.SIGCONT)
	err = within(t, 30*time.Second, func() error {
		_, err := f.ReadAt(make([]byte, 256<<10), 0)
		return err
	})
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("read from a stopped server: %v, want ETIMEDOUT", err)
	}
}

// Callers that need a hung server at once wait for one connection
// attempt, not one after another (the k-th waited k timeouts), and a
// client closed meanwhile ends the attempt. The limits bound a hang;
// they are not speed figures.
func TestHungServerConcurrentCallers(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	w := cl.Mount(t, clientlib.Options{})
	f, err := w.Create(ctx, "/hung", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 256<<10), 0); err != nil { // both servers' strips
		t.Fatal(err)
	}
	victim := 1 - w.MetaServer()
	cl.Signal(victim, syscall.SIGSTOP)
	defer cl.Signal(victim, syscall.SIGCONT)

	const timeout, callers = 2 * time.Second, 6
	c := cl.Mount(t, clientlib.Options{Timeout: timeout, LocalReads: clientlib.LocalReadsOff})
	errs := make(chan error, callers)
	for range callers {
		go func() { _, err := c.Stat(ctx, "/hung"); errs <- err }()
	}
	limit := time.After(3 * timeout) // one after another: callers × timeout
	for i := range callers {
		select {
		case err := <-errs:
			if clientlib.Errno(err) != syscall.ETIMEDOUT {
				t.Errorf("caller %d: %v, want ETIMEDOUT", i, err)
			}
		case <-limit:
			t.Fatalf("%d of %d callers still waiting after %v: they wait one after another", callers-i, callers, 3*timeout)
		}
	}

	c2 := cl.Mount(t, clientlib.Options{Timeout: time.Minute, LocalReads: clientlib.LocalReadsOff})
	done := make(chan error, 1)
	go func() { _, err := c2.Stat(ctx, "/hung"); done <- err }()
	time.Sleep(300 * time.Millisecond) // most likely in the hello by now
	c2.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a call to a hung server succeeded across Close")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not end a connection attempt to a hung server")
	}
}

func TestRestartKeepsSyncedFiles(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, StripSize: 64 << 10})
	c := cl.Mount(t, clientlib.Options{})
	c.Mkdir(ctx, "/keep", 0o755)
	want := map[string][]byte{}
	for i, n := range []int{0, 1, 100 << 10, 1<<20 + 5} {
		name := "/keep/f" + string(rune('a'+i))
		f, err := c.Create(ctx, name, clientlib.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(j*7 + i)
		}
		if _, err := f.WriteAt(b, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		want[name] = b
	}
	// A crash, not a clean stop: whatever was fsynced must survive.
	for i := 0; i < 4; i++ {
		cl.Kill(i)
	}
	cl.StartServers()
	c2 := cl.Mount(t, clientlib.Options{})
	for name, b := range want {
		f, err := c2.Open(ctx, name)
		if err != nil {
			t.Fatalf("%s after restart: %v", name, err)
		}
		got := make([]byte, len(b)+10)
		n, err := f.ReadAt(got, 0)
		if n != len(b) || !errors.Is(err, io.EOF) || !bytes.Equal(got[:n], b) {
			t.Fatalf("%s after restart: read %d, %v; want %d bytes", name, n, err, len(b))
		}
	}
}

func TestBadClientInput(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{})
	for _, p := range []string{"/a/../b", "relative", "/a\x00b", "/a//b", "/./x"} {
		if _, err := c.Create(ctx, p, clientlib.CreateOptions{}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("create %q: %v, want EINVAL", p, err)
		}
	}
	f, err := c.Create(ctx, "/ok", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, 1), -1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("negative offset read: %v", err)
	}
	if _, err := f.WriteAt(make([]byte, 1), -5); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("negative offset write: %v", err)
	}
	if _, err := f.WriteAt(make([]byte, 1), layout.MaxFileSize); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("write past the size limit: %v, want EFBIG", err)
	}
	if _, err := f.WriteAt(make([]byte, 10), layout.MaxFileSize-5); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("write across the size limit: %v, want EFBIG", err)
	}
	if clientlib.Errno(nil) != 0 {
		t.Errorf("Errno(nil) = %v, want 0", clientlib.Errno(nil))
	}
	if _, err := c.Open(ctx, "/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open missing: %v", err)
	}
	if _, err := c.Create(ctx, "/ok", clientlib.CreateOptions{StripSize: 3}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("bad strip size: %v", err)
	}
	f.Close()
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("read of closed file: %v", err)
	}
}

// rawCall sends one frame on a fresh connection and returns the reply
// header (or the connection's error).
func rawCall(t *testing.T, addr string, frame []byte) (proto.Header, []byte, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(frame); err != nil {
		return proto.Header{}, nil, err
	}
	h, err := proto.ReadHeader(nc)
	if err != nil {
		return h, nil, err
	}
	body := make([]byte, h.BodyLen)
	_, err = io.ReadFull(nc, body)
	return h, body, err
}

// Hostile bytes on a server's port: each gets an error reply or a closed
// connection, and the server goes on serving everyone else.
func TestServerSurvivesHostileInput(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{})
	meta := cl.Config.Servers[c.MetaServer()].Address
	goodFile, err := c.Create(ctx, "/good", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	goodFile.WriteAt([]byte("still fine"), 0)

	hdr := func(op proto.Op, body []byte) []byte {
		b := proto.AppendHeader(nil, proto.Header{Op: op, ID: 1, BodyLen: uint32(len(body))})
		return append(b, body...)
	}
	pathBody := func(p string) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
		return append(b, p...)
	}
	l := layout.Layout{StripSize: 1 << 20, Count: 2, Total: 2}
	hugeRead := proto.Marshal(&proto.IOReq{Handle: goodFile.Handle(), Layout: l,
		Extents: []proto.Extent{{Local: 0, Len: proto.MaxIOBytes}, {Local: proto.MaxIOBytes, Len: 1}}})
	escape := proto.Marshal(&proto.DataReq{Handle: goodFile.Handle(), Layout: l})
	copy(escape[4:], "../../../../../../etc/passwd-xxxxxxx") // same length, not a UUID

	cases := []struct {
		name      string
		frame     []byte
		wantErrno syscall.Errno // 0: the server may just close the connection
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: ferry\r\n\r\n"), 0},
		{"oversize body", proto.AppendHeader(nil, proto.Header{Op: proto.OpLookup, ID: 1, BodyLen: proto.MaxControlBody + 1}), 0},
		{"truncated body", hdr(proto.OpLookup, pathBody("/good"))[:proto.HeaderSize+3], 0},
		{"dotdot path", hdr(proto.OpLookup, pathBody("/a/../../etc")), syscall.EBADMSG},
		{"nul path", hdr(proto.OpCreate, pathBody("/a\x00b")), syscall.EBADMSG},
		{"hostile handle", hdr(proto.OpSize, escape), syscall.EBADMSG},
		{"request over the cap", hdr(proto.OpRead, hugeRead), syscall.EBADMSG},
		{"reply frame as request", proto.AppendHeader(nil, proto.Header{Flags: proto.FlagReply, Op: proto.OpHello, ID: 1}), 0},
	}
	for _, tc := range cases {
		h, _, err := rawCall(t, meta, tc.frame)
		switch {
		case tc.wantErrno != 0 && (err != nil || syscall.Errno(h.Status) != tc.wantErrno):
			t.Errorf("%s: reply status %d, err %v; want errno %d (%v)", tc.name, h.Status, err, tc.wantErrno, tc.wantErrno)
		case tc.wantErrno == 0 && err == nil && h.Status == 0:
			t.Errorf("%s: accepted", tc.name)
		}
		// The server still serves a well-behaved client.
		b := make([]byte, 10)
		if n, err := goodFile.ReadAt(b, 0); n != 10 || string(b) != "still fine" {
			t.Fatalf("after %s: read %q, %v", tc.name, b[:n], err)
		}
	}
}

// A client idle across a restart of every server carries on: its first
// call finds the old connections closed and dials again, instead of
// failing on them (no goroutine watches an idle connection).
func TestIdleClientSurvivesRestart(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 64 << 10})
	// A short timeout, idled past: the last reply's read deadline has
	// passed by the time the client looks at its connections again.
	c := cl.Mount(t, clientlib.Options{Timeout: 2 * time.Second})
	f, err := c.Create(ctx, "/across", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("restart!"), 32<<10) // 256 KiB: both servers
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		cl.Kill(i)
	}
	cl.StartServers()
	time.Sleep(2500 * time.Millisecond) // idle past the client's check and its timeout
	for _, size := range []int{4 << 10, len(want)} {
		got := make([]byte, size)
		if n, err := f.ReadAt(got, 0); err != nil || n != size || !bytes.Equal(got, want[:size]) {
			t.Fatalf("read of %d bytes after the restart: %d, %v", size, n, err)
		}
	}
	if _, err := c.Stat(ctx, "/across"); err != nil {
		t.Fatalf("stat after the restart: %v", err)
	}
}
