package itest

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/proto"
)

// readFrame reads one frame from c within the test's bound.
func readFrame(t *testing.T, c net.Conn) proto.Header {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	h, err := proto.ReadHeader(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proto.ReadBody(c, h); err != nil {
		t.Fatal(err)
	}
	return h
}

// recvOne reads one message from uc into buf and returns its length and
// the one descriptor it carries (what names the message in failures).
func recvOne(t *testing.T, uc *net.UnixConn, buf []byte, what string) (int, int) {
	t.Helper()
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("%s: %d bytes (%v)", what, n, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%s carries %d control messages (%v)", what, len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("%s carries %d descriptors (%v)", what, len(fds), err)
	}
	return n, fds[0]
}

// socketConn makes a passed socket descriptor a net.Conn, closed when the
// test ends.
func socketConn(t *testing.T, fd int) net.Conn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "reply")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A real server passes a reply socket on its Unix socket, once per
// connection, and on no TCP connection; after it, every reply comes on
// that socket and none on the connection, and the server closes the
// reply socket when the client closes its connection.
func TestServerPassesReplySocket(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	ask := proto.Frame(proto.Header{Op: proto.OpReplySocket, ID: 1}, &proto.Empty{})
	stats := proto.Frame(proto.Header{Op: proto.OpStats, ID: 2}, &proto.Empty{})

	tc, err := net.DialTimeout("tcp", cl.Config.Servers[0].Address, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := tc.Write(append(ask, stats...)); err != nil {
		t.Fatal(err)
	}
	// The server runs requests at once: the replies come in either order.
	for range 2 {
		switch h := readFrame(t, tc); h.Op {
		case proto.OpReplySocket:
			if syscall.Errno(h.Status) != syscall.EINVAL {
				t.Fatalf("reply socket on TCP: status %d, want EINVAL", h.Status)
			}
		case proto.OpStats:
			if h.Status != 0 {
				t.Fatalf("stats beside a refused reply socket: status %d", h.Status)
			}
		default:
			t.Fatalf("unexpected reply %s", h.Op)
		}
	}

	nc, err := net.DialTimeout("unix", cl.Config.Servers[0].SocketPath(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	uc := nc.(*net.UnixConn)
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := uc.Write(ask); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, proto.HeaderSize)
	n, fd := recvOne(t, uc, buf, "reply socket answer")
	if n != proto.HeaderSize {
		t.Fatalf("reply socket answer: %d bytes", n)
	}
	rc := socketConn(t, fd)

	if _, err := uc.Write(append(stats, ask...)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		switch h := readFrame(t, rc); h.Op {
		case proto.OpReplySocket:
			if syscall.Errno(h.Status) != syscall.EINVAL {
				t.Fatalf("second reply socket: status %d, want EINVAL", h.Status)
			}
		case proto.OpStats:
			if h.Status != 0 || h.ID != 2 {
				t.Fatalf("stats on the reply socket: id %d status %d", h.ID, h.Status)
			}
		default:
			t.Fatalf("unexpected reply %s", h.Op)
		}
	}
	uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := uc.Read(buf); n != 0 || !os.IsTimeout(err) {
		t.Fatalf("the connection itself carried %d reply bytes after the split (%v)", n, err)
	}

	uc.Close()
	rc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := rc.Read(buf); n != 0 || err == nil || os.IsTimeout(err) {
		t.Fatalf("reply socket after the connection closed: %d bytes, %v; want end of stream", n, err)
	}
}

// A server passes datafile descriptors (OpLocalFile) only on a Unix
// socket connection that has its reply socket, only for a capability
// that verifies and grants the read right, and only for a datafile it
// has: otherwise it answers with an error and sends no descriptor. The
// descriptor it passes comes before the reply, tagged with the request.
func TestLocalFileRefusals(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	key, err := config.ReadKey(cl.Config.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := cl.Mount(t, clientlib.Options{Provider: "none", LocalReads: clientlib.LocalReadsOff})
	f, err := c.Create(ctx, "/refused", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("some bytes"), 0); err != nil {
		t.Fatal(err)
	}
	empty, err := c.Create(ctx, "/empty", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(id uint64, f *clientlib.File, cp proto.Cap) []byte {
		return proto.Frame(proto.Header{Op: proto.OpLocalFile, ID: id}, &proto.DataReq{Handle: f.Handle(), Cap: cp, Layout: f.Layout()})
	}
	forged := f.Capability()
	forged.MAC[0] ^= 1
	writeOnly := f.Capability()
	writeOnly.Rights = proto.RightWrite
	writeOnly.MAC = proto.CapMAC(key, f.Handle(), &writeOnly)
	status := func(h proto.Header) syscall.Errno {
		if h.Op != proto.OpLocalFile || !h.IsReply() {
			t.Fatalf("unexpected frame %s", h.Op)
		}
		return syscall.Errno(h.Status)
	}

	tc, err := net.DialTimeout("tcp", cl.Config.Servers[0].Address, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := tc.Write(ask(3, f, f.Capability())); err != nil {
		t.Fatal(err)
	}
	if st := status(readFrame(t, tc)); st != syscall.EOPNOTSUPP {
		t.Errorf("datafile descriptor on TCP: %v, want EOPNOTSUPP", st)
	}

	nc, err := net.DialTimeout("unix", cl.Config.Servers[0].SocketPath(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	uc := nc.(*net.UnixConn)
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := uc.Write(ask(3, f, f.Capability())); err != nil {
		t.Fatal(err)
	}
	if st := status(readFrame(t, uc)); st != syscall.EOPNOTSUPP {
		t.Errorf("datafile descriptor before the reply socket: %v, want EOPNOTSUPP", st)
	}

	if _, err := uc.Write(proto.Frame(proto.Header{Op: proto.OpReplySocket, ID: 1}, &proto.Empty{})); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, proto.HeaderSize), make([]byte, unix.CmsgSpace(4))
	_, fd := recvOne(t, uc, buf, "reply socket answer")
	rc := socketConn(t, fd)
	// The hello: this process's own credentials (root's).
	if _, err := uc.Write(proto.Frame(proto.Header{Op: proto.OpHello, ID: 2}, &proto.HelloReq{Client: "local file test"})); err != nil {
		t.Fatal(err)
	}
	if h := readFrame(t, rc); h.Op != proto.OpHello || h.Status != 0 {
		t.Fatalf("hello: %s status %d", h.Op, h.Status)
	}
	noDescriptor := func(what string) {
		t.Helper()
		uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob); n > 0 || oobn > 0 || !os.IsTimeout(err) {
			t.Fatalf("%s: the connection carried %d bytes and %d of control data (%v)", what, n, oobn, err)
		}
	}
	for _, tc := range []struct {
		what string
		file *clientlib.File
		cp   proto.Cap
		want syscall.Errno
	}{
		{"a forged capability", f, forged, syscall.EACCES},
		{"a capability without the read right", f, writeOnly, syscall.EACCES},
		{"a file the server holds no bytes of", empty, empty.Capability(), syscall.ENODATA},
	} {
		if _, err := uc.Write(ask(4, tc.file, tc.cp)); err != nil {
			t.Fatal(err)
		}
		if st := status(readFrame(t, rc)); st != tc.want {
			t.Errorf("datafile descriptor for %s: %v, want %v", tc.what, st, tc.want)
		}
		noDescriptor(tc.what)
	}

	// Granted: the tagged descriptor first, then the reply.
	take := func(id uint64) *os.File {
		t.Helper()
		uc.SetReadDeadline(time.Now().Add(30 * time.Second))
		tag := make([]byte, proto.LocalFileTagSize)
		n, fd := recvOne(t, uc, tag, "descriptor message")
		if n != len(tag) {
			t.Fatalf("descriptor message: %d bytes", n)
		}
		if got, _ := proto.ParseLocalFileTag(tag); got != id {
			t.Errorf("descriptor tagged %d, want %d", got, id)
		}
		return os.NewFile(uintptr(fd), "datafile")
	}
	if _, err := uc.Write(ask(5, f, f.Capability())); err != nil {
		t.Fatal(err)
	}
	if st := status(readFrame(t, rc)); st != 0 {
		t.Fatalf("datafile descriptor for a good capability: %v", st)
	}
	// One descriptor in flight per connection: until the client takes
	// it, another ask is EAGAIN (descriptors in flight are charged to the
	// server's user).
	if _, err := uc.Write(ask(6, f, f.Capability())); err != nil {
		t.Fatal(err)
	}
	if st := status(readFrame(t, rc)); st != syscall.EAGAIN {
		t.Errorf("a second descriptor before the first was taken: %v, want EAGAIN", st)
	}
	take(5).Close()
	if _, err := uc.Write(ask(7, f, f.Capability())); err != nil {
		t.Fatal(err)
	}
	if st := status(readFrame(t, rc)); st != 0 {
		t.Fatalf("datafile descriptor once the first was taken: %v", st)
	}
	df := take(7)
	defer df.Close()
	got := make([]byte, 10)
	if n, _ := df.ReadAt(got, 0); string(got[:n]) != "some bytes" {
		t.Errorf("passed datafile holds %q", got[:n])
	}
	if _, err := df.WriteAt([]byte("x"), 0); err == nil {
		t.Errorf("the passed descriptor writes")
	}
}
