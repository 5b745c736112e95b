//go:build cgo

package verbs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/ferry-hpc/ferry/internal/testenv"
	"os"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if prov := os.Getenv(childEnv); prov != "" {
		os.Exit(childMain(prov))
	}
	if os.Getenv(standInEnv) != "" {
		os.Exit(standInMain())
	}
	if name := os.Getenv(holdLockEnv); name != "" {
		os.Exit(holdLockMain(name))
	}
	code := m.Run()
	if left := shmFiles(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "leaked /dev/shm files: %v\n", left)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// pair is two endpoints of one provider in this process, a → b.
type pair struct {
	a, b *Endpoint
	peer Peer
}

func newPair(t testing.TB, prov string) *pair {
	a := openOrSkip(t, prov)
	b := openOrSkip(t, prov)
	p, err := a.Connect(b.Address())
	if err != nil {
		t.Fatal(err)
	}
	return &pair{a: a, b: b, peer: p}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var transferCases = []struct{ off, dstOff, n uint64 }{
	{0, 0, 1}, {1, 3, 1}, {5, 7, 4093}, {13, 4099, 65537}, {4097, 1, 1<<20 + 17},
	{3, 5, 8<<20 + 1}, {0, 0, 64 << 20}, {17, 33, 64<<20 - 50},
}

const bigLen = 64<<20 + 64

func TestWriteRead(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			src, dst := mmapBuf(t, bigLen), mmapBuf(t, bigLen)
			fill(src, 1)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteRead|AccessRemoteWrite)
			rb, err := md.Remote(0, bigLen)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range transferCases {
				if raceEnabled && c.n > 8<<20 {
					continue
				}
				before, after := byte(0), byte(0)
				if c.dstOff > 0 {
					before = dst[c.dstOff-1]
				}
				after = dst[c.dstOff+c.n]
				if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, c.off, c.n), Remote: rb, Off: c.dstOff}); err != nil {
					t.Fatalf("case %d write %+v: %v", i, c, err)
				}
				if !bytes.Equal(dst[c.dstOff:c.dstOff+c.n], src[c.off:c.off+c.n]) {
					t.Fatalf("case %d write %+v: data mismatch", i, c)
				}
				if (c.dstOff > 0 && dst[c.dstOff-1] != before) || dst[c.dstOff+c.n] != after {
					t.Fatalf("case %d write %+v: wrote outside the range", i, c)
				}
				// Read back something different into src.
				fill(dst[c.dstOff:c.dstOff+c.n], int64(100+i))
				if err := p.a.Do(ctx, RMA{Kind: Read, Peer: p.peer, Local: One(ms, c.off, c.n), Remote: rb, Off: c.dstOff}); err != nil {
					t.Fatalf("case %d read %+v: %v", i, c, err)
				}
				if !bytes.Equal(dst[c.dstOff:c.dstOff+c.n], src[c.off:c.off+c.n]) {
					t.Fatalf("case %d read %+v: data mismatch", i, c)
				}
			}
		})
	}
}

func TestScatterGather(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			s1, s2, dst := mmapBuf(t, 4<<20), mmapBuf(t, 4<<20), mmapBuf(t, 16<<20)
			fill(s1, 2)
			fill(s2, 3)
			m1 := reg(t, p.a, s1, AccessLocal)
			m2 := reg(t, p.a, s2, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteRead|AccessRemoteWrite)
			rb, _ := md.Remote(4096, 12<<20)
			var segs []Segment
			var want []byte
			for i := 0; i < 11; i++ { // more segments than iov_limit
				m, b := m1, s1
				if i%2 == 1 {
					m, b = m2, s2
				}
				off, n := uint64(i*380001+i), uint64(1+i*37777)
				segs = append(segs, Segment{MR: m, Off: off, Len: n})
				want = append(want, b[off:off+n]...)
			}
			const dstOff = 12345
			if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: segs, Remote: rb, Off: dstOff}); err != nil {
				t.Fatal(err)
			}
			got := dst[4096+dstOff : 4096+dstOff+len(want)]
			if !bytes.Equal(got, want) {
				t.Fatal("WriteV: data mismatch")
			}
			// ReadV scatters the remote range back.
			for _, b := range [][]byte{s1, s2} {
				for i := range b {
					b[i] = 0
				}
			}
			fill(got, 9)
			want = append(want[:0], got...)
			if err := p.a.Do(ctx, RMA{Kind: Read, Peer: p.peer, Local: segs, Remote: rb, Off: dstOff}); err != nil {
				t.Fatal(err)
			}
			var back []byte
			for _, s := range segs {
				b := s1
				if s.MR == m2 {
					b = s2
				}
				back = append(back, b[s.Off:s.Off+s.Len]...)
			}
			if !bytes.Equal(back, want) {
				for i := range back {
					if back[i] != want[i] {
						t.Fatalf("ReadV: data mismatch at %d of %d", i, len(want))
					}
				}
			}
			// Chunking: split ops into pieces smaller than max_msg_size.
			chunkLimit = 1<<20 + 3
			defer func() { chunkLimit = 0 }()
			fill(s1, 4)
			if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: []Segment{{m1, 1, 3 << 20}, {m1, 7, 1 << 19}}, Remote: rb, Off: 5}); err != nil {
				t.Fatal(err)
			}
			want = append(append([]byte(nil), s1[1:1+3<<20]...), s1[7:7+1<<19]...)
			if !bytes.Equal(dst[4096+5:4096+5+len(want)], want) {
				t.Fatal("chunked WriteV: data mismatch")
			}
		})
	}
}

func TestManyInFlight(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			const ops, size = 64, 256<<10 + 3
			src, dst := mmapBuf(t, ops*size+64), mmapBuf(t, ops*size+64)
			fill(src, 5)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteRead|AccessRemoteWrite)
			rb, _ := md.Remote(0, ops*size+64)
			var inflight []*Op
			for i := 0; i < ops; i++ {
				op, err := p.a.Start(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, uint64(i*size), size), Remote: rb, Off: uint64(i*size + 1)})
				if err != nil {
					t.Fatal(err)
				}
				inflight = append(inflight, op)
			}
			for i, op := range inflight {
				if err := op.Wait(ctx); err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
			}
			if !bytes.Equal(dst[1:1+ops*size], src[:ops*size]) {
				t.Fatal("data mismatch after 64 writes in flight")
			}
			fill(dst, 6)
			inflight = inflight[:0]
			for i := 0; i < ops; i++ {
				op, err := p.a.Start(ctx, RMA{Kind: Read, Peer: p.peer, Local: One(ms, uint64(i*size+2), size), Remote: rb, Off: uint64(i * size)})
				if err != nil {
					t.Fatal(err)
				}
				inflight = append(inflight, op)
			}
			for i, op := range inflight {
				if err := op.Wait(ctx); err != nil {
					t.Fatalf("read op %d: %v", i, err)
				}
			}
			if !bytes.Equal(src[2:2+ops*size], dst[:ops*size]) {
				t.Fatal("data mismatch after 64 reads in flight")
			}
		})
	}
}

// TestDeliveryUnderLoad checks the guarantee behind a server's "done"
// reply: when Write returns, the bytes are already in the target's memory,
// even with many writes in flight and the target busy progressing others.
func TestDeliveryUnderLoad(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			if !p.a.Info().DeliveryComplete {
				testenv.SkipOrFail(t, "%s offers no delivery guarantee", prov)
			}
			ctx := testCtx(t)
			const workers, slot = 6, 4 << 20
			src, dst := mmapBuf(t, workers*slot), mmapBuf(t, workers*slot)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteWrite)
			rb, _ := md.Remote(0, workers*slot)
			deadline := time.Now().Add(2 * time.Second)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failures, writes int
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					base := uint64(w * slot)
					for it := 0; time.Now().Before(deadline); it++ {
						n := uint64(1+(it*7919)%slot) >> uint(it%12)
						if n == 0 {
							n = 1
						}
						s := src[base : base+n]
						fill(s, int64(w*100000+it))
						want := sum(s)
						if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, base, n), Remote: rb, Off: base}); err != nil {
							t.Error(err)
							return
						}
						// Check at once, as a peer told by another channel would.
						got := sum(dst[base : base+n])
						mu.Lock()
						writes++
						if got != want {
							failures++
						}
						mu.Unlock()
					}
				}(w)
			}
			wg.Wait()
			t.Logf("%d writes checked at completion, %d not yet delivered", writes, failures)
			if failures > 0 {
				t.Fatalf("%d of %d writes were not in the target's memory at completion", failures, writes)
			}
		})
	}
}

func TestRegisterBytes(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			src := make([]byte, 1<<20+5)
			dst := make([]byte, 1<<20+5)
			fill(src, 11)
			ms, err := p.a.RegisterBytes(src, AccessLocal)
			if err != nil {
				t.Fatal(err)
			}
			defer ms.Close()
			md, err := p.b.RegisterBytes(dst, AccessRemoteWrite)
			if err != nil {
				t.Fatal(err)
			}
			defer md.Close()
			rb, _ := md.Remote(0, uint64(len(dst)))
			if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, uint64(len(src))), Remote: rb, Off: 0}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(src, dst) {
				t.Fatal("mismatch")
			}
		})
	}
}

func TestCloseInFlight(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			p := newPair(t, prov)
			ctx := testCtx(t)
			src, dst := mmapBuf(t, 8<<20), mmapBuf(t, 8<<20)
			ms := reg(t, p.a, src, AccessLocal)
			md := reg(t, p.b, dst, AccessRemoteWrite)
			rb, _ := md.Remote(0, 8<<20)
			// First contact done before the test: a shm peer's pending
			// connection request to a target in the same process would
			// name the closed endpoint's freed region (shm shares regions
			// between endpoints of one process).
			if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 1), Remote: rb}); err != nil {
				t.Fatal(err)
			}
			var ops []*Op
			for i := 0; i < 32; i++ {
				op, err := p.a.Start(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 8<<20), Remote: rb, Off: 0})
				if err != nil {
					t.Fatal(err)
				}
				ops = append(ops, op)
			}
			start := time.Now()
			if err := p.a.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("close took %v", d)
			}
			for _, op := range ops {
				if err := op.Wait(ctx); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("op after close: %v", err)
				}
			}
			if err := p.a.Close(); err != nil {
				t.Errorf("second close: %v", err)
			}
			if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 1), Remote: rb, Off: 0}); !errors.Is(err, ErrClosed) {
				t.Errorf("write on closed endpoint: %v", err)
			}
			if _, err := p.a.Register(md.Base(), 10, AccessLocal); !errors.Is(err, ErrClosed) {
				t.Errorf("register on closed endpoint: %v", err)
			}
			if err := ms.Close(); err != nil {
				t.Errorf("region close after endpoint close: %v", err)
			}
		})
	}
}

// TestClosedPeer: operations to a peer whose endpoint is gone end in an
// error (bounded by the context), never a hang.
func TestClosedPeer(t *testing.T) {
	t00 := time.Now()
	p := newPair(t, "tcp;ofi_rxm")
	t.Logf("pair in %v", time.Since(t00))
	ctx := testCtx(t)
	src, dst := mmapBuf(t, 1<<20), mmapBuf(t, 1<<20)
	ms := reg(t, p.a, src, AccessLocal)
	md := reg(t, p.b, dst, AccessRemoteWrite)
	rb, _ := md.Remote(0, 1<<20)
	if err := p.a.Do(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 1<<20), Remote: rb, Off: 0}); err != nil {
		t.Fatal(err)
	}
	t.Logf("first write done at %v", time.Since(t00))
	t0 := time.Now()
	p.b.Close()
	t.Logf("target closed in %v", time.Since(t0))
	c2, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err := p.a.Do(c2, RMA{Kind: Write, Peer: p.peer, Local: One(ms, 0, 1<<20), Remote: rb, Off: 0})
	if err == nil {
		t.Fatal("write to a closed peer succeeded")
	}
	t.Logf("after %v: %v", time.Since(start), err)
	t0 = time.Now()
	p.a.Close()
	t.Logf("initiator closed in %v", time.Since(t0))
}

func TestAutoAndInterface(t *testing.T) {
	e, err := Open(Config{Provider: "auto"})
	if err != nil {
		t.Fatal(err) // shm opens on every machine this project runs on
	}
	t.Logf("auto: %v", e.Info())
	if e.Provider() != autoOrder[0] || len(e.Address()) == 0 {
		t.Errorf("auto opened %q (want the first preference, %q) with address %q", e.Provider(), autoOrder[0], e.Address())
	}
	e.Close()
	e, err = Open(Config{Provider: "tcp", Interface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if info := e.Info(); info.Provider != "tcp;ofi_rxm" || info.Domain != "lo" {
		t.Errorf("tcp on lo: %v", info)
	}
}
