package clientlib

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/proto"
)

// splitReplies asks the server on the Unix socket connection uc for a
// socket of its own for replies (OpReplySocket). On success it returns
// that socket, in the poller, to read replies from, and uc's socket, out
// of the poller, to write requests to; uc itself is closed. The point:
// each side's poller then holds only the socket it reads, so a message
// read no longer wakes the sender's poller for nothing (rawio.Writer
// says why it did). A server that refuses leaves uc as it was, used both
// ways (in, nil, nil). Nothing else may be in flight on uc.
func (sc *serverConn) splitReplies(uc *net.UnixConn) (in net.Conn, out *rawio.Writer, err error) {
	uc.SetDeadline(time.Now().Add(sc.timeout))
	defer uc.SetDeadline(time.Time{})
	if _, err := uc.Write(proto.Frame(proto.Header{Op: proto.OpReplySocket}, &proto.Empty{})); err != nil {
		return nil, nil, fmt.Errorf("reply socket: %w", err)
	}
	buf := make([]byte, proto.HeaderSize+256)
	oob := make([]byte, unix.CmsgSpace(4*4)) // one descriptor is due; room to see (and close) strays
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, fmt.Errorf("reply socket: %w", err)
	}
	fd, err := oneSocket(oob[:oobn])
	if err != nil {
		return nil, nil, fmt.Errorf("reply socket: %w", err)
	}
	// The frame: what came with the descriptor, the rest from the stream.
	r := io.MultiReader(bytes.NewReader(buf[:n]), uc)
	h, err := proto.ReadHeader(r)
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, nil, fmt.Errorf("reply socket: %w", sc.versionErr(err))
	}
	body, err := proto.ReadBody(r, h)
	switch {
	case err != nil:
	case !h.IsReply() || h.Op != proto.OpReplySocket:
		err = fmt.Errorf("%w: answer to a reply socket request is %s", proto.ErrMalformed, h.Op)
	case h.Status != 0:
		var eb proto.ErrorBody
		proto.Unmarshal(body, &eb)
		if fd >= 0 {
			unix.Close(fd)
		}
		slog.Debug("ferry: server keeps replies on the connection", "server", sc.id, "why", eb.Msg)
		return uc, nil, nil
	case fd < 0:
		err = fmt.Errorf("%w: server passed no socket", proto.ErrMalformed)
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, nil, fmt.Errorf("reply socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "reply socket")
	in, err = net.FileConn(f) // a descriptor of its own, in the poller
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("reply socket: %w", err)
	}
	wfd, err := rawio.Detach(uc)
	if err == nil {
		out, err = rawio.NewWriter(wfd)
	}
	if err != nil {
		in.Close()
		return nil, nil, fmt.Errorf("request socket: %w", err)
	}
	return in, out, nil
}

// oneSocket takes the descriptors a message carried (oob): it keeps the
// first if it is a Unix stream socket and closes every other; -1 when
// there was none.
func oneSocket(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) == 0 {
		return -1, nil
	}
	for _, extra := range fds[1:] {
		unix.Close(extra)
	}
	fd := fds[0]
	unix.CloseOnExec(fd)
	domain, derr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, terr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if derr != nil || terr != nil || domain != unix.AF_UNIX || typ != unix.SOCK_STREAM {
		unix.Close(fd)
		return -1, fmt.Errorf("%w: passed descriptor is not a Unix stream socket", syscall.EPROTO)
	}
	return fd, nil
}
