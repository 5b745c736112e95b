package clientlib

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/munge"
	"github.com/ferry-hpc/ferry/proto"
)

// dial connects to the server: by its Unix socket when it is on this host
// (the server then knows this process, which shm needs), else by TCP. A
// socket that cannot be used is not an error; unixErr says why.
func (sc *serverConn) dial(ctx context.Context) (nc net.Conn, unixErr, err error) {
	d := net.Dialer{Timeout: min(sc.timeout, 10*time.Second), KeepAlive: 15 * time.Second}
	if sc.socket != "" && isLocal([]string{sc.addr}) {
		nc, err := d.DialContext(ctx, "unix", sc.socket)
		if err == nil {
			return nc, nil, nil
		}
		unixErr = err
	}
	nc, err = d.DialContext(ctx, "tcp", sc.addr)
	if err != nil {
		return nil, unixErr, err
	}
	if unixErr != nil {
		// The server came up between the two dials (a restart): it
		// makes its socket before it binds its port, so the socket is
		// there now. On TCP the server cannot know our uid, and the
		// capabilities it gave us there (for nobody) servers reached by
		// socket refused (found by the soak).
		if uc, err := d.DialContext(ctx, "unix", sc.socket); err == nil {
			nc.Close()
			return uc, nil, nil
		}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return nc, unixErr, nil
}

// helloReq is this client's hello on nc: its fabric addresses, the user it
// runs as, and on TCP the credential the server's auth mode asks for (on
// the Unix socket the kernel tells the server who we are).
func (sc *serverConn) helloReq(ctx context.Context, nc net.Conn) (*proto.HelloReq, error) {
	req := &proto.HelloReq{Client: sc.name, Fabrics: sc.fabrics,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			req.Groups = append(req.Groups, uint32(g))
		}
	}
	if _, isUnix := nc.(*net.UnixConn); isUnix {
		return req, nil
	}
	switch sc.auth.Mode {
	case config.AuthKey, config.AuthMunge:
	default:
		return req, nil
	}
	var ch proto.Challenge
	if err := exchange(nc, proto.OpChallenge, &proto.Empty{}, &ch); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	req.Auth = sc.auth.Mode
	if sc.auth.Mode == config.AuthKey {
		key, err := config.ReadKey(sc.auth.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth key: %w: %w", err, syscall.EACCES)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(proto.KeyProofInput(ch.Nonce, req))
		req.Cred = mac.Sum(nil)
		return req, nil
	}
	// ctx: ended with the connection attempt (Close ends it too).
	cred, err := munge.Encode(ctx, sc.auth.MungeSocket, proto.MungePayload(ch.Nonce))
	if err != nil {
		return nil, fmt.Errorf("auth munge: %w: %w", err, syscall.EACCES)
	}
	req.Cred = cred
	return req, nil
}

// exchange sends one request on a connection nothing else reads yet and
// decodes its reply.
func exchange(nc net.Conn, op proto.Op, req, resp proto.Message) error {
	if _, err := nc.Write(proto.Frame(proto.Header{Op: op}, req)); err != nil {
		return err
	}
	h, err := proto.ReadHeader(nc)
	if err != nil {
		return err
	}
	body, err := proto.ReadBody(nc, h)
	if err != nil {
		return err
	}
	if h.Status != 0 {
		var eb proto.ErrorBody
		proto.Unmarshal(body, &eb)
		return &RemoteError{Errno: syscall.Errno(h.Status), Msg: op.String() + ": " + eb.Msg}
	}
	return proto.Unmarshal(body, resp)
}

// authConfig is what a client needs to authenticate on TCP.
type authConfig struct {
	Mode        string // the servers' mode, from the first hello
	KeyFile     string
	MungeSocket string
}
