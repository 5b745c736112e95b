package ioserver

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// passDatafile answers OpLocalFile: it passes the client a read-only
// descriptor of the file's datafile, so that a client on this host reads
// the page cache itself, one copy and no request, where a read through
// the server costs a round trip and a copy into the client by CMA (which
// also pins the client's pages). The descriptor goes (SCM_RIGHTS) on the
// connection's request socket, tagged with the request's ID, before the
// reply goes on the reply socket; the client reads it once the reply
// says it is there.
//
// What the client can do with it: read this one datafile, as its
// capability lets it (RightRead, checked here). It cannot open the
// datafile again for writing through /proc/self/fd: that checks the
// datafile's own mode (0600, the server's user). It keeps its access
// while it holds the descriptor, as a process that opened a local file
// does (Ferry's client drops it when the file closes, when a capability
// comes without the read right, and when the datafile has no links).
func (c *conn) passDatafile(h proto.Header, r *proto.DataReq) error {
	s := c.s
	if !s.self.LocalReadsAllowed() {
		return fmt.Errorf("server %d serves every read itself (local_reads = false): %w", s.id, unix.EOPNOTSUPP)
	}
	uc, ok := c.nc.(*net.UnixConn)
	if c.cred == nil || !ok {
		return fmt.Errorf("datafile descriptors are passed on Unix socket connections only: %w", unix.EOPNOTSUPP)
	}
	if c.out.Load() == nil {
		return fmt.Errorf("datafile descriptors are passed on connections with a reply socket only: %w", unix.EOPNOTSUPP)
	}
	if _, err := s.fileServer(r.Handle, r.Layout); err != nil {
		return err
	}
	if err := s.check(c.caller(), r.Handle, &r.Cap, proto.RightRead); err != nil {
		return err
	}
	f, err := s.data.OpenReadOnly(r.Handle)
	if err != nil {
		return err
	}
	defer f.Close()
	tag := proto.AppendLocalFileTag(nil, h.ID)
	c.fdmu.Lock()
	defer c.fdmu.Unlock()
	// One descriptor in flight per connection: the client takes each
	// before it asks again. One that asks and never takes them would
	// otherwise pile descriptors up in flight, which the kernel charges
	// to the server's user; past its RLIMIT_NOFILE every SCM_RIGHTS send
	// fails, reply sockets too (for a server without CAP_SYS_RESOURCE).
	if queued, err := unsentBytes(uc); err != nil || queued > 0 {
		return fmt.Errorf("the last datafile descriptor is not taken yet (%d bytes queued, %v): %w", queued, err, unix.EAGAIN)
	}
	uc.SetWriteDeadline(time.Now().Add(s.timeout))
	n, _, err := uc.WriteMsgUnix(tag, unix.UnixRights(int(f.Fd())), nil)
	if err == nil && n < len(tag) {
		var m int
		m, err = uc.Write(tag[n:])
		n += m
	}
	if err != nil {
		if n > 0 {
			// A tag half written leaves the socket's stream unusable.
			c.close()
		}
		// Nothing written (the client reads no more, or it is out of
		// room for descriptors in flight): it reads by request.
		return fmt.Errorf("pass datafile %s: %w", r.Handle, err)
	}
	s.stats.Add("conn.local_file", 1)
	return nil
}

// unsentBytes is what the peer has not yet read of what was written on
// uc (SIOCOUTQ: on a Unix socket, the bytes still queued at the peer).
func unsentBytes(uc *net.UnixConn) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	n, ierr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil {
		return 0, err
	}
	return n, ierr
}
