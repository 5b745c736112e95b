package ioserver

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/ioserver/meta"
)

// caller is the user this connection's requests act for, with root
// squashed to nobody when the config asks. Every permission check and
// every capability goes through here, so the source of the identity is
// this one function: the connection's authenticated identity (see
// identity), and a connection that has none is nobody.
func (c *conn) caller() meta.Caller {
	who := meta.Caller{UID: meta.Nobody, GID: meta.Nobody}
	if uid, gid, groups, ok := c.identity(); ok {
		who = meta.Caller{UID: uid, GID: gid, Groups: groups}
	}
	if c.s.cfg.RootSquash && who.UID == 0 {
		who = meta.Caller{UID: meta.Nobody, GID: meta.Nobody}
	}
	return who
}

// admin refuses what only root may do (the whole file system's listings
// for fsck, removing datafiles without a capability): root after
// squashing, as authenticated.
func (c *conn) admin(what string) error {
	if c.caller().UID != 0 {
		return fmt.Errorf("%s: for root only (fsck): %w", what, unix.EPERM)
	}
	return nil
}
