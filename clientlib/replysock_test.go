package clientlib_test

import (
	"bytes"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// On the servers' Unix sockets, each connection gets a reply socket:
// the client writes requests to a socket outside its poller and reads
// replies from one inside it, so reading a message never wakes the
// other side's poller for nothing; the bytes are right and the servers
// count the sockets they passed.
func TestReplySocketPerConnection(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 64 << 10})
	c := cl.Mount(t, clientlib.Options{})
	f, err := c.Create(ctx, "/split", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("reply socket "), 40000) // both servers, inline and small
	if _, err := f.WriteAt(want, 5); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 5); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes read back differ from those written")
	}
	for id := range 2 {
		req, rep, ok := clientlib.ConnSockets(c, id)
		if !ok {
			t.Fatalf("server %d: no connection after a read", id)
		}
		if req == rep {
			t.Fatalf("server %d: requests and replies share socket %d", id, req)
		}
		if in, err := rawio.InPoller(req); err != nil || in {
			t.Errorf("server %d: request socket %d in the poller: %v (%v)", id, req, in, err)
		}
		if in, err := rawio.InPoller(rep); err != nil || !in {
			t.Errorf("server %d: reply socket %d not in the poller: %v (%v)", id, rep, in, err)
		}
		st, err := c.ServerStats(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st["conn.reply_socket"] < 1 {
			t.Errorf("server %d passed %d reply sockets", id, st["conn.reply_socket"])
		}
	}
}
