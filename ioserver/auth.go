package ioserver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/munge"
	"github.com/ferry-hpc/ferry/proto"
)

// ident is who a connection serves, once authenticated.
type ident struct {
	uid, gid uint32
	groups   []uint32
	how      string // for logs: "peercred", "munge", "key", "none"
}

// setupAuth checks the auth mode against the config and loads what it needs.
func (s *Server) setupAuth() error {
	s.auth = s.cfg.AuthMode()
	switch s.auth {
	case config.AuthNone:
		// Anyone who can reach the port may claim any uid: loopback only.
		// The bind address is what is reachable (it defaults to the
		// advertised one).
		bind := s.self.BindAddress()
		host, _, err := net.SplitHostPort(bind)
		if err != nil {
			return fmt.Errorf("address %q: %w", bind, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("auth none trusts every client's claimed uid, so it serves loopback only; address %s is not: %w",
				bind, unix.EINVAL)
		}
		s.log.Warn("auth none: every client's claimed uid is trusted (tests only)")
	case config.AuthMunge:
		// Fails early where MUNGE is missing, not at the first client.
		if _, err := munge.Encode(context.Background(), s.cfg.MungeSocket, []byte("ferryd")); err != nil {
			return fmt.Errorf("auth munge: %w", err)
		}
	}
	return nil
}

// identity is the user this connection was authenticated as: the peer
// credentials of a Unix socket client, what its MUNGE credential says, or
// (modes key and none) what it claimed. ok is false for a connection that
// is not authenticated.
func (c *conn) identity() (uid, gid uint32, groups []uint32, ok bool) {
	c.amu.Lock()
	defer c.amu.Unlock()
	if c.id == nil {
		return 0, 0, nil, false
	}
	return c.id.uid, c.id.gid, append([]uint32(nil), c.id.groups...), true
}

// challenge answers OpChallenge: a fresh nonce that the next hello's
// credential must carry, so a credential is good for one connection once.
func (c *conn) challenge() (*proto.Challenge, error) {
	n := make([]byte, 32)
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	c.amu.Lock()
	c.nonce = n
	c.amu.Unlock()
	return &proto.Challenge{Nonce: n}, nil
}

// authenticate sets the connection's identity from its first hello that
// proves one. A hello without a credential leaves a connection
// anonymous (it may still learn the file system's layout); a credential
// that does not verify is refused with EACCES. Later hellos never change
// an identity once set.
func (c *conn) authenticate(ctx context.Context, r *proto.HelloReq) error {
	c.amu.Lock()
	defer c.amu.Unlock()
	if c.id != nil {
		return nil
	}
	nonce := c.nonce
	c.nonce = nil // one use
	s := c.s
	var id *ident
	switch {
	case s.auth == config.AuthNone:
		id = &ident{uid: r.UID, gid: r.GID, groups: r.Groups, how: "none"}
	case c.cred != nil:
		// The kernel says who is on the other end of a Unix socket; no
		// claim or credential can override it.
		id = &ident{uid: c.cred.Uid, gid: c.cred.Gid, groups: procGroups(c.cred.Pid, c.cred.Gid), how: "peercred"}
	case r.Auth == proto.AuthNone:
		return nil // anonymous
	case r.Auth != s.auth:
		return fmt.Errorf("hello: credential of kind %q, this server authenticates by %q: %w", r.Auth, s.auth, unix.EACCES)
	case nonce == nil:
		return fmt.Errorf("hello: credential without a challenge first: %w", unix.EACCES)
	case s.auth == config.AuthKey:
		mac := hmac.New(sha256.New, s.key)
		mac.Write(proto.KeyProofInput(nonce, r))
		if !hmac.Equal(mac.Sum(nil), r.Cred) {
			return fmt.Errorf("hello: key proof does not match this file system's key: %w", unix.EACCES)
		}
		id = &ident{uid: r.UID, gid: r.GID, groups: r.Groups, how: "key"}
	case s.auth == config.AuthMunge:
		mc, err := munge.Decode(ctx, s.cfg.MungeSocket, r.Cred)
		if err != nil {
			return fmt.Errorf("hello: %v: %w", err, unix.EACCES)
		}
		if !hmac.Equal(mc.Payload, proto.MungePayload(nonce)) {
			return fmt.Errorf("hello: MUNGE credential made for another connection: %w", unix.EACCES)
		}
		id = &ident{uid: mc.UID, gid: mc.GID, groups: userGroups(mc.UID, mc.GID), how: "munge"}
	default:
		return fmt.Errorf("hello: auth mode %q takes no credential: %w", s.auth, unix.EACCES)
	}
	c.id = id
	s.log.Debug("authenticated", "peer", c.nc.RemoteAddr().String(), "client", r.Client, "uid", id.uid, "gid", id.gid, "by", id.how)
	return nil
}

// procGroups reads a process's supplementary groups from /proc; the
// primary group alone when that fails (the process has gone).
func procGroups(pid int32, gid uint32) []uint32 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return []uint32{gid}
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("Groups:"))
		if !ok {
			continue
		}
		gs := []uint32{gid}
		for _, f := range strings.Fields(string(rest)) {
			if n, err := strconv.ParseUint(f, 10, 32); err == nil && uint32(n) != gid {
				gs = append(gs, uint32(n))
			}
		}
		return gs
	}
	return []uint32{gid}
}

// userGroups is a user's groups in this host's user database: MUNGE
// proves only the uid and primary gid.
func userGroups(uid, gid uint32) []uint32 {
	gs := []uint32{gid}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return gs
	}
	ids, err := u.GroupIds()
	if err != nil {
		return gs
	}
	for _, s := range ids {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil && uint32(n) != gid {
			gs = append(gs, uint32(n))
		}
	}
	return gs
}
