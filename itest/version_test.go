package itest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/proto"
)

// A client of another protocol version gets a reply naming both versions
// from a real server, not a silently closed connection.
func TestServerRefusesOtherProtocolVersion(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	nc, err := net.DialTimeout("tcp", cl.Config.Servers[0].Address, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	frame := proto.Frame(proto.Header{Op: proto.OpHello}, &proto.HelloReq{Client: "from-the-future"})
	frame[4] = proto.Version + 1 // the version byte of the header
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	h, err := proto.ReadHeader(nc)
	if err != nil {
		t.Fatalf("no reply in the server's version: %v", err)
	}
	body, err := proto.ReadBody(nc, h)
	if err != nil {
		t.Fatal(err)
	}
	var eb proto.ErrorBody
	if err := proto.Unmarshal(body, &eb); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("speaks protocol version %d, client speaks %d", proto.Version, proto.Version+1)
	if syscall.Errno(h.Status) != syscall.EPROTONOSUPPORT || !strings.Contains(eb.Msg, want) {
		t.Fatalf("reply status %d, message %q; want EPROTONOSUPPORT and %q", h.Status, eb.Msg, want)
	}
}

// A server of another protocol version (here, a listener that answers as
// one: no other build can run in this test) makes the client fail with
// an error naming both versions and the server.
func TestClientRefusesOtherProtocolVersion(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		proto.ReadHeader(nc) // the client's hello, in this build's version
		reply := proto.Frame(proto.Header{Op: proto.OpHello, Flags: proto.FlagReply}, &proto.HelloResp{})
		reply[4] = proto.Version + 1
		nc.Write(reply)
		nc.Read(make([]byte, 1)) // until the client hangs up
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = clientlib.Dial(ctx, ln.Addr().String(), clientlib.Options{Timeout: 10 * time.Second, Provider: "none"})
	want := fmt.Sprintf("speaks protocol version %d, this client speaks %d", proto.Version+1, proto.Version)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ln.Addr().String()) ||
		!errors.Is(err, proto.ErrVersion) {
		t.Fatalf("dial a server of another version: %v; want an error with %q and its address", err, want)
	}
}
