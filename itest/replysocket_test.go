package itest

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
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
	buf, oob := make([]byte, proto.HeaderSize), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil || n != proto.HeaderSize {
		t.Fatalf("reply socket answer: %d bytes (%v)", n, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("reply socket answer carries %d control messages (%v)", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("reply socket answer carries %d descriptors (%v)", len(fds), err)
	}
	f := os.NewFile(uintptr(fds[0]), "reply")
	rc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

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
// socket connection that has its reply socket, and only for a capability
// that verifies: on TCP, before the split, and for a forged capability it
// answers with an error and sends no descriptor.
func TestLocalFileRefusals(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	c := cl.Mount(t, clientlib.Options{Provider: "none", LocalReads: clientlib.LocalReadsOff})
	f, err := c.Create(ctx, "/refused", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	forged := f.Capability()
	forged.MAC[0] ^= 1
	ask := proto.Frame(proto.Header{Op: proto.OpLocalFile, ID: 3},
		&proto.DataReq{Handle: f.Handle(), Cap: forged, Layout: f.Layout()})
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
	if _, err := tc.Write(ask); err != nil {
		t.Fatal(err)
	}
	if st := status(readFrame(t, tc)); st != syscall.EINVAL {
		t.Errorf("datafile descriptor on TCP: %v, want EINVAL", st)
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
	if st := status(readFrame(t, uc)); st != syscall.EINVAL {
		t.Errorf("datafile descriptor before the reply socket: %v, want EINVAL", st)
	}

	if _, err := uc.Write(proto.Frame(proto.Header{Op: proto.OpReplySocket, ID: 1}, &proto.Empty{})); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, proto.HeaderSize), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	if len(msgs) != 1 {
		t.Fatalf("reply socket answer carries %d control messages", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("reply socket answer carries %d descriptors (%v)", len(fds), err)
	}
	rf := os.NewFile(uintptr(fds[0]), "reply")
	rc, err := net.FileConn(rf)
	rf.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := uc.Write(ask); err != nil {
		t.Fatal(err)
	}
	if st := status(readFrame(t, rc)); st != syscall.EACCES {
		t.Errorf("datafile descriptor for a forged capability: %v, want EACCES", st)
	}
	uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob); n > 0 || oobn > 0 || !os.IsTimeout(err) {
		t.Fatalf("the connection carried %d bytes and %d of control data for a refused request (%v)", n, oobn, err)
	}
}
