package ioserver

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/ferry-hpc/ferry/verbs"
)

// bindAddress checks that a fabric address a client sent names the
// process on the other end of this connection, so RMA with it can only
// reach that process's memory: an shm endpoint must belong to the pid and
// uid the kernel reports for the Unix socket; an IP endpoint must be on
// the host the connection comes from. Anything else is refused.
func (c *conn) bindAddress(provider string, addr []byte) error {
	if err := verbs.CheckAddress(provider, addr); err != nil {
		return err
	}
	switch provider {
	case "shm":
		return c.bindShm(addr)
	case "tcp;ofi_rxm", "verbs;ofi_rxm", "sockets", "psm3":
		return c.bindIP(provider, addr)
	}
	return fmt.Errorf("%s addresses cannot be tied to a connection, so they are not accepted", provider)
}

func (c *conn) bindShm(addr []byte) error {
	if c.cred == nil {
		return fmt.Errorf("shm is served only to clients on the server's Unix socket %s (this connection is %s, whose process the server cannot know)",
			c.s.self.SocketPath(), c.nc.LocalAddr().Network())
	}
	// shm maps each side's region into the other, with locks and queues
	// both write: a peer of another user could stall or steer the server
	// through it, and cannot open the server's private region anyway.
	if me := uint32(os.Geteuid()); c.cred.Uid != me {
		return fmt.Errorf("shm is served only to processes of the server's own user (uid %d), the client runs as uid %d", me, c.cred.Uid)
	}
	pid, uid, err := verbs.ParseShmAddress(addr)
	if err != nil {
		return err
	}
	if int32(pid) != c.cred.Pid || uint32(uid) != c.cred.Uid {
		return fmt.Errorf("shm endpoint of pid %d uid %d, the connection's process is pid %d uid %d", pid, uid, c.cred.Pid, c.cred.Uid)
	}
	// The endpoint's region must exist and belong to that user (a name
	// alone could be made to point at another user's region).
	name := strings.TrimSuffix(strings.TrimPrefix(string(addr), "fi_shm://"), "\x00")
	st, err := os.Lstat("/dev/shm/" + name)
	if err != nil {
		return fmt.Errorf("shm endpoint %s: %w", name, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.Mode().IsRegular() || !ok || sys.Uid != c.cred.Uid {
		return fmt.Errorf("shm endpoint %s is not a regular file of uid %d", name, c.cred.Uid)
	}
	return nil
}

func (c *conn) bindIP(provider string, addr []byte) error {
	ip, err := verbs.AddressIP(provider, addr)
	if err != nil {
		return err
	}
	if c.cred != nil {
		if ip.IsLoopback() || isHostIP(ip) {
			return nil
		}
		return fmt.Errorf("fabric address %s is not on this host, the client is", ip)
	}
	ta, ok := c.nc.RemoteAddr().(*net.TCPAddr)
	if !ok || !ta.IP.Equal(ip) {
		return fmt.Errorf("fabric address %s is not the control connection's source %s", ip, c.nc.RemoteAddr())
	}
	return nil
}

// isHostIP reports whether ip is one of this host's addresses.
func isHostIP(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
