package ioserver

import (
	"github.com/ferry-hpc/ferry/ioserver/meta"
)

// caller is the user this connection's requests act for, with root
// squashed to nobody when the config asks. Every permission check and
// every capability goes through here, so the source of the identity is
// this one function: today the credentials the client stated in its
// hello (trusted as NFS sec=sys trusts them), and a connection that has
// not said hello is nobody.
func (c *conn) caller() meta.Caller {
	var who meta.Caller
	if cred := c.cred.Load(); cred != nil {
		who = meta.Caller{UID: cred.UID, GID: cred.GID, Groups: cred.Groups}
	} else {
		who = meta.Caller{UID: meta.Nobody, GID: meta.Nobody}
	}
	if c.s.cfg.RootSquash && who.UID == 0 {
		who = meta.Caller{UID: meta.Nobody, GID: meta.Nobody}
	}
	return who
}
