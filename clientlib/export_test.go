package clientlib

import (
	"syscall"

	"github.com/ferry-hpc/ferry/proto"
)

// SetCapability replaces the capability f holds, so tests can make it
// close to expiry or expired.
func SetCapability(f *File, cp proto.Cap) {
	f.capab.mu.Lock()
	defer f.capab.mu.Unlock()
	f.capab.cap = cp
}

// ConnSockets gives the descriptors of the connection to server id:
// where requests are written and where replies are read (the same
// descriptor unless the server gave a reply socket); ok is false when
// the connection is not up.
func ConnSockets(c *Client, id int) (request, reply int, ok bool) {
	sc := c.servers[id]
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.nc == nil {
		return 0, 0, false
	}
	fdOf := func(x any) int {
		fd := -1
		if s, ok := x.(syscall.Conn); ok {
			if rc, err := s.SyscallConn(); err == nil {
				rc.Control(func(d uintptr) { fd = int(d) })
			}
		}
		return fd
	}
	reply = fdOf(sc.nc)
	request = reply
	if sc.out != nil {
		request = fdOf(sc.out)
	}
	return request, reply, true
}
