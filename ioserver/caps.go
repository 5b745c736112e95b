package ioserver

import (
	"crypto/hmac"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/ioserver/meta"
	"github.com/ferry-hpc/ferry/proto"
)

// Capabilities (see proto.Cap) are issued by the metadata server and
// checked by every data server on its own: the MAC under the file system
// key, the expiry by the local clock, the holder against the caller, and
// the rights against the operation.
//
// Removal is the one thing a MAC cannot express, because a capability
// issued before an unlink stays well-formed until it expires. So unlink
// (and rename over a file) issue RightRemove, which only they issue, and a
// data server that removes a datafile on such a capability records the
// handle as removed (data.Service keeps that record on disk for longer
// than any capability lives). From then on every capability for that
// handle is refused with ESTALE, and in particular no write or truncate
// can create the datafile again. A client that unlinks a file and never
// removes its datafiles leaves them reachable to capabilities it already
// holds until they expire, and never to anyone who looks the file up.

// issue makes a capability for handle held by c with rights r.
func (s *Server) issue(c meta.Caller, handle string, r proto.Rights) proto.Cap {
	cp := proto.Cap{UID: c.UID, Rights: r, Expiry: time.Now().Add(proto.CapLifetime).UnixNano()}
	cp.MAC = proto.CapMAC(s.key, handle, &cp)
	return cp
}

// open answers a lookup or create of a: its attributes and, for a file,
// a capability with the rights c has on it.
func (s *Server) open(c meta.Caller, a *proto.Attr, r proto.Rights) *proto.OpenResp {
	resp := &proto.OpenResp{Attr: *a}
	if a.Type == proto.TypeFile {
		resp.Cap = s.issue(c, a.Handle, r)
	}
	return resp
}

// macOK reports whether cp's MAC is right for handle under the key.
func (s *Server) macOK(handle string, cp *proto.Cap) bool {
	if s.verified.has(handle, cp) {
		return true
	}
	want := proto.CapMAC(s.key, handle, cp)
	if !hmac.Equal(want[:], cp.MAC[:]) {
		return false
	}
	s.verified.add(handle, cp)
	return true
}

// verifiedCaps remembers capabilities whose MAC verified, so that the
// requests of an open file compare it instead of computing an HMAC each
// (several microseconds, a tenth of a small read's CPU). Only a
// capability identical in every field, MAC included, to one that
// verified counts as verified: the key never changes while a server
// runs. Expiry, holder, rights and removal are still checked each time.
type verifiedCaps struct {
	mu sync.Mutex
	m  map[verifiedCap]struct{}
}

type verifiedCap struct {
	handle string
	cap    proto.Cap
}

// maxVerified bounds the memory: past it the set starts again empty.
const maxVerified = 4096

func (v *verifiedCaps) has(handle string, cp *proto.Cap) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.m[verifiedCap{handle, *cp}]
	return ok
}

func (v *verifiedCaps) add(handle string, cp *proto.Cap) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[verifiedCap]struct{})
	}
	v.m[verifiedCap{handle, *cp}] = struct{}{}
}

// anyRight asks only for a capability that verifies (size, fsync).
const anyRight proto.Rights = 0

// check verifies cp for handle: c holds it, it is unexpired and its MAC
// is right, it carries one of the rights in need (any when need is 0),
// and the handle's file has not been removed here.
func (s *Server) check(c meta.Caller, handle string, cp *proto.Cap, need proto.Rights) error {
	switch {
	case !s.macOK(handle, cp):
		return fmt.Errorf("capability for %s does not verify: %w", handle, unix.EACCES)
	case cp.UID != c.UID:
		return fmt.Errorf("capability for %s belongs to uid %d, caller is %d: %w", handle, cp.UID, c.UID, unix.EACCES)
	case time.Now().UnixNano() >= cp.Expiry:
		return fmt.Errorf("capability for %s expired at %s: %w", handle, time.Unix(0, cp.Expiry).UTC().Format(time.RFC3339), unix.EACCES)
	case need != anyRight && cp.Rights&need == 0:
		return fmt.Errorf("capability for %s grants %#x, need one of %#x: %w", handle, cp.Rights, need, unix.EACCES)
	case s.data.Removed(handle):
		return fmt.Errorf("file %s was removed: %w", handle, unix.ESTALE)
	}
	return nil
}
