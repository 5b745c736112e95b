//go:build cgo

package verbs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"github.com/ferry-hpc/ferry/internal/testenv"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const childEnv = "FERRY_VERBS_TEST_CHILD"

// childMain is the far side of the two-process tests: it registers a
// bigLen buffer and answers commands on stdin:
//
//	SUM off n  → crc32 of buf[off:off+n]
//	FILL seed  → fill the buffer with the seeded pattern
//	EXIT       → close and exit
func childMain(prov string) int {
	e, err := Open(Config{Provider: prov})
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		return 1
	}
	buf, err := syscall.Mmap(-1, 0, bigLen, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		return 1
	}
	m, err := e.Register(unsafe.Pointer(&buf[0]), len(buf), AccessRemoteRead|AccessRemoteWrite)
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		return 1
	}
	rb, _ := m.Remote(0, uint64(len(buf)))
	fmt.Printf("ADDR %s %d %d %d\n", hex.EncodeToString(e.Address()), rb.Addr, rb.Key, rb.Len)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "SUM":
			off, _ := strconv.ParseUint(f[1], 10, 64)
			n, _ := strconv.ParseUint(f[2], 10, 64)
			fmt.Printf("SUM %d\n", sum(buf[off:off+n]))
		case "FILL":
			seed, _ := strconv.ParseInt(f[1], 10, 64)
			fill(buf, seed)
			fmt.Println("OK")
		case "EXIT":
			m.Close()
			if err := e.Close(); err != nil {
				fmt.Printf("ERR %v\n", err)
				return 1
			}
			fmt.Println("OK")
			return 0
		}
	}
	e.Close()
	return 0
}

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	rb  RemoteBuffer
	adr []byte
}

func startChild(t *testing.T, prov string) *child {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+prov)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() {
		// Closing stdin makes the child close its endpoint (and its
		// /dev/shm file); kill it only if it does not exit.
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := c.line(t)
	var a string
	if _, err := fmt.Sscanf(line, "ADDR %s %d %d %d", &a, &c.rb.Addr, &c.rb.Key, &c.rb.Len); err != nil {
		if strings.Contains(line, "not supported") {
			testenv.SkipOrFail(t, "child: %s", line)
		}
		t.Fatalf("child said %q: %v", line, err)
	}
	c.adr, _ = hex.DecodeString(a)
	return c
}

func (c *child) line(t *testing.T) string {
	t.Helper()
	s, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return strings.TrimSpace(s)
}

func (c *child) sum(t *testing.T, off, n uint64) uint32 {
	fmt.Fprintf(c.in, "SUM %d %d\n", off, n)
	var v uint32
	if _, err := fmt.Sscanf(c.line(t), "SUM %d", &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTwoProcesses(t *testing.T) {
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			e := openOrSkip(t, prov)
			c := startChild(t, prov)
			peer, err := e.Connect(c.adr)
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			src := mmapBuf(t, bigLen)
			fill(src, 21)
			ms := reg(t, e, src, AccessLocal)

			// Writes, each checked by the child right after completion
			// (the delivery guarantee across processes).
			for i, tc := range transferCases {
				if raceEnabled && tc.n > 8<<20 {
					continue
				}
				if err := e.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, tc.off, tc.n), Remote: c.rb, Off: tc.dstOff}); err != nil {
					t.Fatalf("case %d write: %v", i, err)
				}
				if got, want := c.sum(t, tc.dstOff, tc.n), sum(src[tc.off:tc.off+tc.n]); got != want {
					t.Fatalf("case %d write %+v: child has crc %x, want %x", i, tc, got, want)
				}
			}
			// Reads of a pattern the child fills.
			fmt.Fprintf(c.in, "FILL 77\n")
			if l := c.line(t); l != "OK" {
				t.Fatal(l)
			}
			pat := make([]byte, bigLen)
			fill(pat, 77)
			for i, tc := range transferCases {
				if raceEnabled && tc.n > 8<<20 {
					continue
				}
				if err := e.Do(ctx, RMA{Kind: Read, Peer: peer, Local: One(ms, tc.off, tc.n), Remote: c.rb, Off: tc.dstOff}); err != nil {
					t.Fatalf("case %d read: %v", i, err)
				}
				if !bytes.Equal(src[tc.off:tc.off+tc.n], pat[tc.dstOff:tc.dstOff+tc.n]) {
					t.Fatalf("case %d read %+v: mismatch", i, tc)
				}
			}
			// 64 writes in flight, then a scatter list.
			fill(src, 22)
			const ops, size = 64, 1<<20 - 7
			var inflight []*Op
			for i := 0; i < ops; i++ {
				op, err := e.Start(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, uint64(i*size+1), size), Remote: c.rb, Off: uint64(i*size + 3)})
				if err != nil {
					t.Fatal(err)
				}
				inflight = append(inflight, op)
			}
			for _, op := range inflight {
				if err := op.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := c.sum(t, 3, ops*size), sum(src[1:1+ops*size]); got != want {
				t.Fatal("64 in flight: mismatch")
			}
			segs := []Segment{{ms, 5, 100}, {ms, 1 << 20, 3<<20 + 1}, {ms, 7, 1}, {ms, 9 << 20, 65536}, {ms, 99, 12345}}
			var want []byte
			for _, s := range segs {
				want = append(want, src[s.Off:s.Off+s.Len]...)
			}
			if err := e.Do(ctx, RMA{Kind: Write, Peer: peer, Local: segs, Remote: c.rb, Off: 11}); err != nil {
				t.Fatal(err)
			}
			if got := c.sum(t, 11, uint64(len(want))); got != sum(want) {
				t.Fatal("WriteV across processes: mismatch")
			}

			// The peer goes away: an error, never a hang.
			fmt.Fprintf(c.in, "EXIT\n")
			if l := c.line(t); l != "OK" {
				t.Fatalf("child exit: %s", l)
			}
			c.cmd.Wait()
			c2, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			start := time.Now()
			err = e.Do(c2, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, 4096), Remote: c.rb, Off: 0})
			if err == nil {
				t.Fatal("write to an exited peer succeeded")
			}
			t.Logf("write to exited peer, after %v: %v", time.Since(start), err)
		})
	}
}

// A peer that does not answer our first contact (shm: a stopped process,
// whose side of the connection must progress once) holds up only the
// transfers to it: one to another peer posted after it completes, even
// behind more posts to the stalled peer than the owner takes in a turn.
func TestStalledPeerDoesNotBlockOthers(t *testing.T) {
	e := openOrSkip(t, "shm")
	stopped, running := startChild(t, "shm"), startChild(t, "shm")
	t.Cleanup(func() { stopped.cmd.Process.Signal(syscall.SIGCONT) }) // before its stdin closes
	ps, err := e.Connect(stopped.adr)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := e.Connect(running.adr)
	if err != nil {
		t.Fatal(err)
	}
	if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	src := mmapBuf(t, 2<<20)
	fill(src, 5)
	ms := reg(t, e, src, AccessLocal)
	// 2*maxBatch writes of 8 KiB: the first megabyte, piece by piece
	const piece = 1 << 20 / (2 * maxBatch)
	var first []*Op
	for off := uint64(0); off < 1<<20; off += piece {
		op, err := e.Start(ctx, RMA{Kind: Write, Peer: ps, Local: One(ms, off, piece), Remote: RemoteBuffer{Addr: stopped.rb.Addr + off, Key: stopped.rb.Key, Len: piece}})
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, op)
	}
	if err := e.Do(ctx, RMA{Kind: Write, Peer: pr, Local: One(ms, 1<<20, 1<<20), Remote: running.rb}); err != nil {
		t.Fatalf("write to a running peer while another is stopped: %v", err)
	}
	if got, want := running.sum(t, 0, 1<<20), sum(src[1<<20:]); got != want {
		t.Fatalf("running peer has crc %x, want %x", got, want)
	}
	stopped.cmd.Process.Signal(syscall.SIGCONT)
	for i, op := range first {
		if err := op.Wait(ctx); err != nil {
			t.Fatalf("write %d to the peer once resumed: %v", i, err)
		}
	}
	if got, want := stopped.sum(t, 0, 1<<20), sum(src[:1<<20]); got != want {
		t.Fatalf("resumed peer has crc %x, want %x", got, want)
	}
}
