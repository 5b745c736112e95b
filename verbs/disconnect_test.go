//go:build cgo

package verbs

import (
	"bytes"
	"errors"
	"testing"
)

// A disconnected Peer reaches no one, even once its address is inserted
// again (and may get the same index): its value is never reused.
func TestDisconnect(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			src, dst := mmapBuf(t, 1<<20), mmapBuf(t, 1<<20)
			fill(src, 7)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteRead|AccessRemoteWrite)
			rb, err := md.Remote(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			write := func(peer Peer) error {
				return p.a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 1<<20), Remote: rb})
			}
			if err := write(p.peer); err != nil {
				t.Fatal(err)
			}
			if err := p.a.Disconnect(p.peer); err != nil {
				t.Fatal(err)
			}
			if p.a.Connected(p.peer) {
				t.Fatal("still connected after Disconnect")
			}
			clear(dst)
			if err := write(p.peer); !errors.Is(err, ErrClosed) {
				t.Fatalf("write to a disconnected peer: err = %v, want ErrClosed", err)
			}
			if !bytes.Equal(dst, make([]byte, len(dst))) {
				t.Fatal("a write to a disconnected peer moved bytes")
			}
			if err := p.a.Disconnect(p.peer); err != nil {
				t.Fatalf("second Disconnect: %v", err)
			}
			again, err := p.a.Connect(p.b.Address())
			if err != nil {
				t.Fatal(err)
			}
			if again == p.peer {
				t.Fatalf("reconnect returned the disconnected Peer value %d", again)
			}
			if err := write(again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dst, src) {
				t.Fatal("data mismatch after reconnect")
			}
			if err := write(p.peer); !errors.Is(err, ErrClosed) {
				t.Fatalf("old Peer after reconnect: err = %v, want ErrClosed", err)
			}
		})
	}
}
