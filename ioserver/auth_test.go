package ioserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/proto"
)

func testServer(auth string, key []byte) *Server {
	return &Server{auth: auth, key: key, cfg: &config.Config{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// unixPair is a connected pair of Unix sockets; the server side carries
// its peer credentials as accept would.
func unixPair(t *testing.T, s *Server) *conn {
	t.Helper()
	sc, _ := socketPair(t)
	cred, err := peerCred(sc)
	if err != nil {
		t.Fatal(err)
	}
	return &conn{s: s, nc: sc, cred: cred}
}

// On the Unix socket the kernel's credentials win over any claim.
func TestIdentityFromPeerCredentials(t *testing.T) {
	c := unixPair(t, testServer(config.AuthLocal, nil))
	if _, _, _, ok := c.identity(); ok {
		t.Fatal("identity before the hello")
	}
	if err := c.authenticate(context.Background(), &proto.HelloReq{UID: 4242, GID: 4242}); err != nil {
		t.Fatal(err)
	}
	uid, gid, groups, ok := c.identity()
	if !ok || uid != uint32(os.Getuid()) || gid != uint32(os.Getgid()) || len(groups) == 0 || groups[0] != gid {
		t.Fatalf("identity %d %d %v %v, want this process's %d %d", uid, gid, groups, ok, os.Getuid(), os.Getgid())
	}
	if c.cred.Pid != int32(os.Getpid()) {
		t.Fatalf("peer pid %d, want %d", c.cred.Pid, os.Getpid())
	}
}

// A TCP connection: anonymous without a credential; in mode key, a right
// proof sets the claimed identity, a wrong one is EACCES, and an identity
// once set does not change.
func TestIdentityKeyMode(t *testing.T) {
	key := make([]byte, 32)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &conn{s: testServer(config.AuthKey, key), nc: a}
	ctx := context.Background()
	if err := c.authenticate(ctx, &proto.HelloReq{UID: 7}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := c.identity(); ok {
		t.Fatal("identity without a credential")
	}
	ch, _ := c.challenge()
	req := &proto.HelloReq{Auth: proto.AuthKey, UID: 1000, GID: 100, Groups: []uint32{100, 27}}
	req.Cred = make([]byte, 32)
	if err := c.authenticate(ctx, req); !errors.Is(err, unix.EACCES) {
		t.Fatalf("wrong proof: %v", err)
	}
	ch, _ = c.challenge()
	mac := hmac.New(sha256.New, key)
	mac.Write(proto.KeyProofInput(ch.Nonce, req))
	req.Cred = mac.Sum(nil)
	if err := c.authenticate(ctx, req); err != nil {
		t.Fatal(err)
	}
	uid, gid, groups, ok := c.identity()
	if !ok || uid != 1000 || gid != 100 || len(groups) != 2 {
		t.Fatalf("identity %d %d %v %v", uid, gid, groups, ok)
	}
	if err := c.authenticate(ctx, &proto.HelloReq{Auth: proto.AuthKey, UID: 0}); err != nil {
		t.Fatal(err)
	}
	if uid, _, _, _ := c.identity(); uid != 1000 {
		t.Fatalf("a later hello changed the identity to %d", uid)
	}
}

// socketPair is a connected pair of Unix sockets: the accepted (server)
// end and the dialing (client) end, closed when the test ends.
func socketPair(t *testing.T) (server *net.UnixConn, client net.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	sc, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc, cc
}
